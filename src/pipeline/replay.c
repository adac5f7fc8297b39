/* replay.c: decides an NDJSON file offline with the daemon's stages under two configs and reports the changes. */
#include "txpipe/replay.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "txpipe/dedup.h"
#include "txpipe/pipeline.h"
#include "txpipe/stages.h"

struct txp_replayer {
	struct txp_stages *st;
	struct txp_stage_fns fns;
	struct txp_dedup *dedup;
	char rules_version[TXP_RULES_VERSION_SIZE];
	int64_t clock; /* latest time given to a line, Unix ms */
	uint64_t seq;  /* stands in for the journal sequence in the duplicate window */
};

int txp_replayer_create(struct txp_replayer **out, const struct txp_config *cfg, char *err, size_t errlen)
{
	struct txp_replayer *r = calloc(1, sizeof(*r));
	int64_t loaded_ms;
	int rc;

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = txp_stages_create(&r->st, cfg, err, errlen);
	if (rc < 0)
		goto err_after_alloc;
	/* Inline, as the daemon with workers = 0: one validator and one
	 * shard, run in order on this thread. */
	rc = txp_stages_setup(r->st, 0, &r->fns, err, errlen);
	if (rc < 0)
		goto err_after_stages;
	r->dedup = txp_dedup_create(TXP_DEDUP_MAX, TXP_DEDUP_WINDOW_MS);
	if (r->dedup == NULL) {
		snprintf(err, errlen, "out of memory for the duplicate window");
		rc = -ENOMEM;
		goto err_after_stages;
	}
	txp_stages_set_dedup(r->st, r->dedup);
	txp_stages_rules(r->st, r->rules_version, &loaded_ms);
	*out = r;
	return 0;

err_after_stages:
	txp_stages_destroy(r->st);
err_after_alloc:
	free(r);
	return rc;
}

const char *txp_replayer_rules_version(const struct txp_replayer *r)
{
	return r->rules_version;
}

struct txp_txn *txp_replayer_decide(struct txp_replayer *r, const char *line, size_t len)
{
	struct txp_txn *t = txp_txn_new_line(line, len);

	if (t == NULL)
		return NULL;
	/* Until validation finds the line's own time: one millisecond after
	 * the last line. */
	t->received_ms = ++r->clock;
	r->fns.validate(r->fns.validate_ctx[0], t);
	if (t->has_timestamp && !t->duplicate) {
		t->received_ms = t->timestamp_ms;
		if (t->timestamp_ms > r->clock)
			r->clock = t->timestamp_ms;
	}
	r->fns.fraud(r->fns.fraud_ctx[0], t);
	r->fns.comply(r->fns.comply_ctx[0], t);
	/* What the daemon does once the decision is journaled (ack.c). */
	if (!t->duplicate && t->has_id && t->status <= TXP_STATUS_DECLINED && t->reply != NULL)
		(void)txp_dedup_put(r->dedup, t->transaction_id, t->fingerprint, t->status, ++r->seq, t->reply,
		                    t->reply_len, t->received_ms, NULL);
	txp_stages_decided(r->st, NULL);
	return t;
}

void txp_replayer_destroy(struct txp_replayer *r)
{
	if (r == NULL)
		return;
	txp_stages_destroy(r->st);
	txp_dedup_destroy(r->dedup);
	free(r);
}

/* ---- comparing ------------------------------------------------------------ */

static bool has_reason(const struct txp_txn *t, const struct txp_reason *x)
{
	for (unsigned i = 0; i < t->n_reasons; i++)
		if (t->reasons[i].points == x->points && strcmp(t->reasons[i].code, x->code) == 0)
			return true;
	return false;
}

/* The reasons of `a` that `b` lacks, each as " <sign>code:points". */
static void print_missing(FILE *out, const struct txp_txn *a, const struct txp_txn *b, char sign)
{
	for (unsigned i = 0; i < a->n_reasons; i++)
		if (!has_reason(b, &a->reasons[i]))
			fprintf(out, " %c%s:%d", sign, a->reasons[i].code, a->reasons[i].points);
}

static bool reasons_differ(const struct txp_txn *a, const struct txp_txn *b)
{
	if (a->n_reasons != b->n_reasons)
		return true;
	for (unsigned i = 0; i < a->n_reasons; i++)
		if (!has_reason(b, &a->reasons[i]))
			return true;
	return false;
}

static void print_score(FILE *out, const struct txp_txn *t)
{
	if (t->scored)
		fprintf(out, "%d", t->risk_score);
	else
		fputc('-', out);
}

static void compare(FILE *out, const struct txp_txn *a, const struct txp_txn *b, struct txp_replay_summary *sum)
{
	if (a->status == b->status && !reasons_differ(a, b))
		return;
	if (a->status != b->status)
		sum->status_changed++;
	else
		sum->reasons_changed++;
	fprintf(out, "%s %s -> %s score ", b->has_id ? b->transaction_id : "-", txp_status_name(a->status),
	        txp_status_name(b->status));
	print_score(out, a);
	fputs(" -> ", out);
	print_score(out, b);
	print_missing(out, a, b, '-');
	print_missing(out, b, a, '+');
	fputc('\n', out);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int txp_replay_run(struct txp_replayer *baseline, struct txp_replayer *candidate, FILE *in, FILE *out,
                   struct txp_replay_summary *sum, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	memset(sum, 0, sizeof(*sum));
	while ((n = getline(&line, &cap, in)) > 0) {
		struct txp_txn *a, *b;
		size_t len = (size_t)n;

		if (line[len - 1] == '\n')
			len--;
		/* Blank lines (a file's trailing one) are no transaction. */
		if (blank(line, len))
			continue;
		a = txp_replayer_decide(baseline, line, len);
		b = a != NULL ? txp_replayer_decide(candidate, line, len) : NULL;
		if (b == NULL) {
			txp_txn_free(a);
			snprintf(err, errlen, "out of memory at line %llu", (unsigned long long)sum->lines + 1);
			rc = -ENOMEM;
			break;
		}
		sum->lines++;
		sum->baseline[a->status]++;
		sum->candidate[b->status]++;
		compare(out, a, b, sum);
		txp_txn_free(a);
		txp_txn_free(b);
	}
	if (rc == 0 && ferror(in)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		rc = -EIO;
	}
	/* The line may have held a card number. */
	if (line != NULL)
		sodium_memzero(line, cap);
	free(line);
	if (rc < 0)
		return rc;
	fprintf(out, "%-10s %12s %12s %8s\n", "status", "baseline", "candidate", "change");
	for (int s = 0; s < TXP_STATUS_COUNT; s++)
		fprintf(out, "%-10s %12llu %12llu %+8lld\n", txp_status_name(s), (unsigned long long)sum->baseline[s],
		        (unsigned long long)sum->candidate[s],
		        (long long)sum->candidate[s] - (long long)sum->baseline[s]);
	fprintf(out, "lines %llu, status changed %llu, reasons changed %llu (baseline rules %s, candidate %s)\n",
	        (unsigned long long)sum->lines, (unsigned long long)sum->status_changed,
	        (unsigned long long)sum->reasons_changed, baseline->rules_version, candidate->rules_version);
	return 0;
}
