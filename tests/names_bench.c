/* names_bench.c: name screening against a whole OFAC list: load time, memory, latency, false positives, recall. */
/*
 * Not a test: `make tests/names_bench && tests/names_bench SDN.csv DIR`
 * (build without sanitizers for the timings), where DIR holds
 * first-names.txt and last-names.txt (tests/data/names).  It prints:
 *   - load: entries, names, the index's bytes, the load time;
 *   - latency: p50/p99/p99.9 of screening one transaction's two names
 *     (thread CPU time, and wall-clock p99), over 20,000 transactions of
 *     ordinary names (the common case) and 20,000 where one name is a
 *     listed one with a typo, five whole runs each, each transaction
 *     screened once as the daemon does; the headline ("median of 5
 *     runs") is each percentile's median over the runs.  A last line
 *     repeats each transaction five times back to back and keeps its
 *     fastest: caches warm from the repeats, so it is a floor, not what
 *     a transaction costs;
 *   - false positives: every first x last combination of the two files
 *     (100 x 100 = 10,000 ordinary names) screened, the hits counted and
 *     the first ones shown;
 *   - recall: variants of each listed primary name (word order swapped,
 *     a middle name dropped, case and accents changed, a one-letter typo,
 *     an initial for the first name, the entity suffix changed), the share
 *     that hits the entry itself.
 * Exits 77 (skipped) when the SDN file is absent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "txpipe/names.h"

#define THRESHOLD 900

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The thread's CPU time: what screening costs, without the time the
 * scheduler gives other processes on a loaded machine (wall-clock
 * latencies are printed too). */
static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int read_words(const char *path, char words[][32], int max)
{
	FILE *f = fopen(path, "r");
	char line[128];
	int n = 0;

	if (f == NULL)
		return -1;
	while (n < max && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		line[31] = '\0'; /* names longer than that are not common names */
		memcpy(words[n++], line, strlen(line) + 1);
	}
	fclose(f);
	return n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One listed primary name as the bench needs it. */
struct listed {
	char id[16];
	char name[400];
	int individual;
};

/* Reads ent_num, SDN_Name and SDN_Type of each line (the bench's own
 * reader, so it does not share the parser it measures). */
static struct listed *read_sdn(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	char line[16384];
	struct listed *v = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *a = strchr(line, ','), *q1, *q2;
		if (a == NULL || a[1] != '"')
			continue;
		q1 = a + 2;
		q2 = strchr(q1, '"');
		if (q2 == NULL)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = realloc(v, cap * sizeof(*v));
			if (v == NULL)
				exit(1);
		}
		snprintf(v[n].id, sizeof(v[n].id), "%.*s", (int)(a - line), line);
		snprintf(v[n].name, sizeof(v[n].name), "%.*s", (int)(q2 - q1), q1);
		v[n].individual = strncmp(q2, "\",\"individual\"", 14) == 0;
		n++;
	}
	fclose(f);
	*count = n;
	return v;
}

/* Splits "LAST, First Middle" into words in natural order; returns the count. */
static int natural_words(const struct listed *l, char w[][64], int max)
{
	char tmp[400], *comma, *p, *save;
	int n = 0;
	char *parts[2];
	int np;

	snprintf(tmp, sizeof(tmp), "%s", l->name);
	comma = l->individual ? strchr(tmp, ',') : NULL;
	if (comma != NULL) {
		*comma = '\0';
		parts[0] = comma + 1;
		parts[1] = tmp;
		np = 2;
	} else {
		parts[0] = tmp;
		np = 1;
	}
	for (int k = 0; k < np; k++)
		for (p = strtok_r(parts[k], " ", &save); p != NULL && n < max; p = strtok_r(NULL, " ", &save))
			snprintf(w[n++], 64, "%s", p);
	return n;
}

static void join(char *out, size_t cap, char w[][64], int n, int skip)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i == skip)
			continue;
		o += (size_t)snprintf(out + o, cap - o, "%s%s", o > 0 ? " " : "", w[i]);
		if (o >= cap)
			return;
	}
}

enum { V_ORDER, V_MIDDLE, V_ACCENT, V_TYPO, V_INITIAL, V_SUFFIX, V_COUNT };
static const char *const vname[V_COUNT] = { "word order swapped", "middle name dropped",    "case and accents",
	                                    "one-letter typo",    "initial for first name", "entity suffix changed" };

/* Makes variant `v` of listed name `l` into out; 0 when it does not apply. */
static int make_variant(const struct listed *l, int v, char *out, size_t cap)
{
	char w[16][64];
	int n = natural_words(l, w, 16), longest = 0;

	if (n == 0)
		return 0;
	switch (v) {
	case V_ORDER:
		if (n < 2)
			return 0;
		/* Family name first, no comma: "SMITH John Paul". */
		{
			char t[16][64];
			memcpy(t[0], w[n - 1], 64);
			for (int i = 0; i < n - 1; i++)
				memcpy(t[i + 1], w[i], 64);
			join(out, cap, t, n, -1);
		}
		return 1;
	case V_MIDDLE:
		if (!l->individual || n < 3)
			return 0;
		join(out, cap, w, n, 1);
		return 1;
	case V_ACCENT: {
		/* Lowercase, and the first e or a of each word accented. */
		size_t o = 0;
		for (int i = 0; i < n && o + 8 < cap; i++) {
			int done = 0;
			if (i > 0)
				out[o++] = ' ';
			for (const char *p = w[i]; *p != '\0' && o + 4 < cap; p++) {
				char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
				if (!done && (c == 'e' || c == 'a')) {
					memcpy(out + o, c == 'e' ? "\xc3\xa9" : "\xc3\xa1", 2);
					o += 2;
					done = 1;
				} else {
					out[o++] = c;
				}
			}
		}
		out[o] = '\0';
		return 1;
	}
	case V_TYPO: {
		/* The longest word's middle letter replaced by the next letter. */
		for (int i = 1; i < n; i++)
			if (strlen(w[i]) > strlen(w[longest]))
				longest = i;
		size_t len = strlen(w[longest]), at = len / 2;
		char *c = &w[longest][at];
		if (len < 4 || !((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')))
			return 0;
		*c = *c == 'z' ? 'a' : *c == 'Z' ? 'A' : (char)(*c + 1);
		join(out, cap, w, n, -1);
		return 1;
	}
	case V_INITIAL:
		if (!l->individual || n < 2 || strlen(w[0]) < 2)
			return 0;
		w[0][1] = '.';
		w[0][2] = '\0';
		join(out, cap, w, n, -1);
		return 1;
	case V_SUFFIX: {
		static const char *const sfx[] = { "LTD", "LTD.", "LIMITED", "LLC", "L.L.C.", "INC",  "INC.", "S.A.",
			                           "SA",  "GMBH", "PLC",     "CO.", "CO",     "CORP", "CORP." };
		int had = 0;
		if (l->individual)
			return 0;
		for (size_t k = 0; k < sizeof(sfx) / sizeof(sfx[0]); k++)
			if (strcmp(w[n - 1], sfx[k]) == 0 ||
			    (strlen(w[n - 1]) > 1 && w[n - 1][strlen(w[n - 1]) - 1] == ',' &&
			     strncmp(w[n - 1], sfx[k], strlen(sfx[k])) == 0))
				had = 1;
		if (had) {
			snprintf(w[n - 1], 64, "%s", strcmp(w[n - 1], "LLC") == 0 ? "Limited" : "LLC");
		} else if (n < 16) {
			snprintf(w[n++], 64, "%s", "Ltd.");
		}
		join(out, cap, w, n, -1);
		return 1;
	}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *sdn = argc > 1 ? argv[1] : "../shared/data/ofac-sdn-2024-05-03.csv";
	const char *dir = argc > 2 ? argv[2] : "tests/data/names";
	static char first[128][32], last[128][32];
	char path[1024], err[512], spec[1200];
	struct txp_names *ix;
	struct txp_names_scratch *s = txp_names_scratch_new();
	struct txp_names_hit hit;
	struct listed *listed;
	size_t nlisted;
	int nf, nl, fp = 0, shown = 0;
	double t0, *ns;
	FILE *probe = fopen(sdn, "rb");
	static char ordinary[10000][64];
	int nord = 0;

	if (probe == NULL) {
		fprintf(stderr, "names_bench: %s: %s (skipped)\n", sdn, strerror(errno));
		return 77;
	}
	fclose(probe);
	snprintf(path, sizeof(path), "%s/first-names.txt", dir);
	nf = read_words(path, first, 128);
	snprintf(path, sizeof(path), "%s/last-names.txt", dir);
	nl = read_words(path, last, 128);
	if (nf <= 0 || nl <= 0 || s == NULL) {
		fprintf(stderr, "names_bench: cannot read %s/first-names.txt and last-names.txt\n", dir);
		return 1;
	}

	snprintf(spec, sizeof(spec), "ofac:%s", sdn);
	t0 = now_ns();
	if (txp_names_load(spec, &ix, err, sizeof(err)) < 0) {
		fprintf(stderr, "names_bench: %s\n", err);
		return 1;
	}
	printf("load: %zu entries, %zu names (with aliases), index %zu bytes (%.1f MiB), %.1f ms\n",
	       txp_names_entries(ix), txp_names_names(ix), txp_names_memory(ix),
	       (double)txp_names_memory(ix) / 1048576.0, (now_ns() - t0) / 1e6);
	printf("threshold %u/1000\n", THRESHOLD);

	/* False positives: every first x last. */
	for (int i = 0; i < nf; i++) {
		for (int j = 0; j < nl; j++) {
			snprintf(ordinary[nord], sizeof(ordinary[nord]), "%s %s", first[i], last[j]);
			if (txp_names_screen(ix, s, ordinary[nord], THRESHOLD, &hit) == 1) {
				fp++;
				if (shown++ < 15)
					printf("  false positive? \"%s\" -> %s #%s score %u\n", ordinary[nord],
					       hit.list, hit.entry, hit.score);
			}
			nord++;
		}
	}
	printf("false positives: %d of %d ordinary names (%.2f%%)\n", fp, nord, 100.0 * fp / nord);

	/* Recall on variants of listed names. */
	listed = read_sdn(sdn, &nlisted);
	if (listed == NULL) {
		fprintf(stderr, "names_bench: cannot read %s\n", sdn);
		return 1;
	}
	{
		long tried_all = 0, same_all = 0;
		for (int v = 0; v < V_COUNT; v++) {
			long tried = 0, same = 0, any = 0;
			int miss_shown = 0;
			for (size_t k = 0; k < nlisted; k++) {
				char q[512];
				if (!make_variant(&listed[k], v, q, sizeof(q)))
					continue;
				tried++;
				if (txp_names_screen(ix, s, q, THRESHOLD, &hit) == 1) {
					any++;
					if (strcmp(hit.entry, listed[k].id) == 0)
						same++;
				} else if (argc > 3 && miss_shown++ < atoi(argv[3])) {
					printf("    missed: \"%s\" (#%s %s)\n", q, listed[k].id, listed[k].name);
				}
			}
			tried_all += tried;
			same_all += same;
			printf("recall %-24s %5ld variants: %6.2f%% hit the entry, %6.2f%% hit any\n", vname[v], tried,
			       tried ? 100.0 * same / tried : 0, tried ? 100.0 * any / tried : 0);
		}
		printf("recall overall: %ld of %ld variants (%.2f%%)\n", same_all, tried_all,
		       100.0 * same_all / tried_all);
	}

	/* Latency: one transaction = two names.  Each workload runs five
	 * times, each transaction screened once per run as in the daemon
	 * (its data as cold as the other transactions leave it); the
	 * headline is each percentile's median over the runs, so one run
	 * disturbed by the neighbours on a shared machine moves it neither
	 * way. */
	{
		enum { N = 20000, RUNS = 5 };
		double *wall = malloc(N * sizeof(*wall));
		ns = malloc(N * sizeof(*ns));
		if (ns == NULL || wall == NULL)
			return 1;
		for (int pass = 0; pass < 2; pass++) {
			double pct[4][RUNS];
			const char *what = pass == 0 ? "two ordinary names" : "one ordinary, one listed (typo)";
			for (int run = 0; run < RUNS; run++) {
				unsigned seed = 12345;
				for (int i = 0; i < N; i++) {
					const char *a = ordinary[(seed = seed * 1103515245u + 12345u) % (unsigned)nord];
					const char *b = ordinary[(seed = seed * 1103515245u + 12345u) % (unsigned)nord];
					char lb[512];
					double t, w;
					if (pass == 1) {
						const struct listed *l =
						        &listed[(seed = seed * 1103515245u + 12345u) % nlisted];
						if (!make_variant(l, V_TYPO, lb, sizeof(lb)))
							snprintf(lb, sizeof(lb), "%s", l->name);
						b = lb;
					}
					w = now_ns();
					t = cpu_ns();
					(void)txp_names_screen(ix, s, a, THRESHOLD, &hit);
					(void)txp_names_screen(ix, s, b, THRESHOLD, &hit);
					ns[i] = cpu_ns() - t;
					wall[i] = now_ns() - w;
				}
				qsort(ns, N, sizeof(*ns), cmp_d);
				qsort(wall, N, sizeof(*wall), cmp_d);
				printf("run %d %-31s cpu p50 %6.2f p99 %6.2f p99.9 %7.2f us; wall p99 %8.2f us\n",
				       run + 1, what, ns[N / 2] / 1e3, ns[N * 99 / 100] / 1e3, ns[N * 999 / 1000] / 1e3,
				       wall[N * 99 / 100] / 1e3);
				pct[0][run] = ns[N / 2];
				pct[1][run] = ns[N * 99 / 100];
				pct[2][run] = ns[N * 999 / 1000];
				pct[3][run] = wall[N * 99 / 100];
			}
			for (int k = 0; k < 4; k++)
				qsort(pct[k], RUNS, sizeof(pct[k][0]), cmp_d);
			printf("median of %d runs: %-24s cpu p50 %6.2f p99 %6.2f p99.9 %7.2f us; wall p99 %8.2f us\n",
			       RUNS, what, pct[0][RUNS / 2] / 1e3, pct[1][RUNS / 2] / 1e3, pct[2][RUNS / 2] / 1e3,
			       pct[3][RUNS / 2] / 1e3);

			/* Each transaction repeated five times back to back, its
			 * fastest kept: the repeats warm the caches for it, so
			 * this is a floor under the cost, not the cost. */
			{
				unsigned seed = 12345;
				for (int i = 0; i < N; i++) {
					const char *a = ordinary[(seed = seed * 1103515245u + 12345u) % (unsigned)nord];
					const char *b = ordinary[(seed = seed * 1103515245u + 12345u) % (unsigned)nord];
					char lb[512];
					double fastest = 1e18;
					if (pass == 1) {
						const struct listed *l =
						        &listed[(seed = seed * 1103515245u + 12345u) % nlisted];
						if (!make_variant(l, V_TYPO, lb, sizeof(lb)))
							snprintf(lb, sizeof(lb), "%s", l->name);
						b = lb;
					}
					for (int r = 0; r < RUNS; r++) {
						double t = cpu_ns();
						(void)txp_names_screen(ix, s, a, THRESHOLD, &hit);
						(void)txp_names_screen(ix, s, b, THRESHOLD, &hit);
						t = cpu_ns() - t;
						fastest = t < fastest ? t : fastest;
					}
					ns[i] = fastest;
				}
				qsort(ns, N, sizeof(*ns), cmp_d);
				printf("warm-cache repeats (fastest of %d back to back, not the cost): %s: cpu p50 %6.2f p99 "
				       "%6.2f p99.9 %7.2f max %7.2f us\n",
				       RUNS, what, ns[N / 2] / 1e3, ns[N * 99 / 100] / 1e3, ns[N * 999 / 1000] / 1e3,
				       ns[N - 1] / 1e3);
			}
		}
		free(ns);
		free(wall);
	}
	free(listed);
	txp_names_scratch_free(s);
	txp_names_free(ix);
	return 0;
}
