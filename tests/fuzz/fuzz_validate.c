/* fuzz_validate.c: libFuzzer harness for the validation stage (txp_validate): one line in, a decision out. */
#include <jansson.h>
#include <string.h>

#include "txpipe/config.h"
#include "txpipe/item.h"
#include "txpipe/txn.h"
#include "txpipe/validate.h"

#include "fuzz.h"

static const unsigned char card_key[TXP_CARD_KEY_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* Validates one copy of the line with `v`; whatever the outcome, the reply
 * and the stored item must build, and the reply must be one JSON object
 * on one line. */
static void validate_once(const struct txp_validator *v, const uint8_t *data, size_t size)
{
	struct txp_txn *t = txp_txn_new();
	json_t *reply;

	/* The server hands lines over NUL-terminated (struct txp_txn). */
	if (t == NULL || (t->line = malloc(size + 1)) == NULL)
		abort();
	memcpy(t->line, data, size);
	t->line[size] = '\0';
	t->line_len = (uint32_t)size;
	(void)txp_validate(v, t);
	FUZZ_ASSERT(t->line == NULL);
	FUZZ_ASSERT(txp_txn_build_reply(t) == 0);
	FUZZ_ASSERT(t->reply != NULL && t->reply_len > 0 && t->reply[t->reply_len - 1] == '\n');
	FUZZ_ASSERT(memchr(t->reply, '\n', t->reply_len - 1) == NULL);
	reply = json_loadb(t->reply, t->reply_len, 0, NULL);
	FUZZ_ASSERT(json_is_object(reply));
	json_decref(reply);
	FUZZ_ASSERT(txp_item_build(t, "fuzz") == 0);
	txp_txn_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Both unknown_fields policies, with the shipped max_amount. */
	static struct txp_validator *ignore, *reject;

	if (ignore == NULL) {
		struct txp_config cfg;
		if (txp_validate_global_init() != 0 || txp_config_defaults(&cfg) != 0)
			abort();
		cfg.validation.unknown_fields = TXP_UNKNOWN_IGNORE;
		ignore = txp_validator_new(&cfg, card_key);
		cfg.validation.unknown_fields = TXP_UNKNOWN_REJECT;
		reject = txp_validator_new(&cfg, card_key);
		txp_config_free(&cfg);
		if (ignore == NULL || reject == NULL)
			abort();
	}
	if (size > UINT32_MAX)
		return 0;
	validate_once(ignore, data, size);
	validate_once(reject, data, size);
	return 0;
}
