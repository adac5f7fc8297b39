// emulator.mjs: runs dynalite (DynamoDB) or fauxqs (SNS+SQS) in memory, bound to 127.0.0.1 only.
//
// Usage: node emulator.mjs dynalite|fauxqs [--port N] [--port-file F] [--watch-pid P]
//                                           [--create-table-ms MS] [--verbose]
//
// --port 0 (the default) lets the kernel pick a free port, so parallel test runs never race for
// one; the port actually bound is written to --port-file (atomically, via rename) once listening.
// --watch-pid makes the emulator exit when that process disappears, so a test script killed with
// SIGKILL (whose EXIT trap cannot run) still leaves nothing behind.
// Both CLIs upstream work too (`dynalite --host 127.0.0.1 --port N`, `FAUXQS_PORT=N fauxqs`), but
// fauxqs' own CLI binds 0.0.0.0, and neither reports a kernel-chosen port.
import { writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);

function usage(msg) {
	process.stderr.write(`emulator: ${msg}\nusage: emulator.mjs dynalite|fauxqs [--port N] ` +
		'[--port-file F] [--watch-pid P] [--create-table-ms MS] [--path DIR] [--verbose]\n');
	process.exit(64);
}

let parsed;
try {
	parsed = parseArgs({
		allowPositionals: true,
		options: {
			port: { type: 'string', default: '0' },
			'port-file': { type: 'string' },
			'watch-pid': { type: 'string' },
			'create-table-ms': { type: 'string' },
			path: { type: 'string' },
			verbose: { type: 'boolean', default: false },
		},
	});
} catch (e) {
	usage(e.message);
}
const { values: opt, positionals } = parsed;
if (positionals.length !== 1) usage('exactly one emulator name expected');
const kind = positionals[0];
const port = Number(opt.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${opt.port}`);
const HOST = '127.0.0.1';

function announce(boundPort) {
	if (opt['port-file']) {
		const tmp = `${opt['port-file']}.tmp`;
		writeFileSync(tmp, `${boundPort}\n`);
		renameSync(tmp, opt['port-file']);
	}
	process.stdout.write(`emulator: ${kind} listening on http://${HOST}:${boundPort} pid ${process.pid}\n`);
}

let closeServer = async () => {};

async function startDynalite() {
	const dynalite = require('dynalite');
	const options = {};
	if (opt['create-table-ms'] !== undefined) {
		const ms = Number(opt['create-table-ms']);
		options.createTableMs = ms;
		options.deleteTableMs = ms;
		options.updateTableMs = ms;
	}
	if (opt.verbose) options.verbose = true;
	// Without --path dynalite keeps its LevelDB in memory; with it, on disk in DIR, so a restart
	// (an outage test) finds its tables again.
	if (opt.path !== undefined) options.path = opt.path;
	const server = dynalite(options);
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, HOST, resolve);
	});
	closeServer = () => new Promise((resolve) => server.close(() => resolve()));
	return server.address().port;
}

async function startFauxqs() {
	const { buildApp } = await import('fauxqs');
	// buildApp is what fauxqs' startFauxqs() uses after its optional persistence set-up; without
	// a data dir nothing else differs, and here we choose the listen address ourselves.
	const app = buildApp({ logger: opt.verbose, defaultRegion: process.env.AWS_REGION || 'us-east-1' });
	await app.listen({ port, host: HOST });
	closeServer = () => app.close();
	return app.server.address().port;
}

let stopping = false;
async function stop(code) {
	if (stopping) return;
	stopping = true;
	const force = setTimeout(() => process.exit(code), 3000);
	force.unref();
	try {
		await closeServer();
	} catch {
		// exiting anyway
	}
	process.exit(code);
}

process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
process.on('SIGHUP', () => stop(0));

if (opt['watch-pid']) {
	const watched = Number(opt['watch-pid']);
	if (!Number.isInteger(watched) || watched <= 0) usage(`bad --watch-pid ${opt['watch-pid']}`);
	setInterval(() => {
		try {
			process.kill(watched, 0);
		} catch (e) {
			if (e.code === 'ESRCH') {
				process.stderr.write(`emulator: watched pid ${watched} is gone, exiting\n`);
				stop(0);
			}
		}
	}, 500).unref();
}

try {
	let bound;
	if (kind === 'dynalite') bound = await startDynalite();
	else if (kind === 'fauxqs') bound = await startFauxqs();
	else usage(`unknown emulator ${kind}`);
	announce(bound);
} catch (e) {
	process.stderr.write(`emulator: ${kind} failed to start: ${e.stack || e}\n`);
	process.exit(1);
}
