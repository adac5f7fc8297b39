// json-get.mjs: reads JSON on stdin and prints the value at a path, so shell tests need no jq.
//
// usage: json-get.mjs PATH      e.g. '0.Body', 'length', 'Sns.MessageAttributes.decision.Value'
//   Strings print raw, other values as compact JSON; 'length' of an array or string is its length.
//   Exits 2 when the path does not exist.
import { readFileSync } from 'node:fs';

const path = process.argv[2];
if (path === undefined || process.argv.length !== 3) {
	process.stderr.write('usage: json-get.mjs PATH\n');
	process.exit(64);
}
let v;
try {
	v = JSON.parse(readFileSync(0, 'utf8'));
} catch (e) {
	process.stderr.write(`json-get.mjs: stdin is not JSON: ${e.message}\n`);
	process.exit(1);
}
for (const part of path === '' ? [] : path.split('.')) {
	if (v !== null && typeof v === 'object' && Object.prototype.hasOwnProperty.call(v, part)) {
		v = v[part];
	} else if (part === 'length' && (Array.isArray(v) || typeof v === 'string')) {
		v = v.length;
	} else {
		process.stderr.write(`json-get.mjs: no ${part} in path ${path}\n`);
		process.exit(2);
	}
}
process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
