/* fuzz_rulelists.c: libFuzzer harness for the rule stages' list files and specs (identifier sets, USD rates, country sets). */
#include <string.h>

#include "txpipe/rulelists.h"

#include "fuzz.h"

/* Every entry a list file holds, as the parser's documented rules see it:
 * each line trimmed of spaces, tabs and CRs, blank and '#' lines skipped. */
static void check_entries_found(const struct txp_idset *set, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *a = p, *b;
		char entry[TXP_IDSET_ENTRY_MAX + 1];

		if (eol == NULL)
			eol = end;
		b = eol;
		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if (b > a && *a != '#' && (size_t)(b - a) <= TXP_IDSET_ENTRY_MAX &&
		    memchr(a, '\0', (size_t)(b - a)) == NULL) {
			memcpy(entry, a, (size_t)(b - a));
			entry[b - a] = '\0';
			FUZZ_ASSERT(txp_idset_has(set, entry));
		}
		p = eol + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txp_idset *set = NULL;
	struct txp_rates rates, copy;
	struct txp_country_set countries;
	char err[512];
	char *spec;

	/* The whole input as a list file. */
	if (txp_idset_parse((const char *)data, size, "fuzz.txt", &set, err, sizeof(err)) == 0) {
		check_entries_found(set, (const char *)data, size);
		FUZZ_ASSERT(!txp_idset_has(set, ""));
		txp_idset_free(set);
	} else {
		FUZZ_ASSERT(set == NULL);
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
	}

	/* The input as the text of a config value: usd_rates, then a country set. */
	spec = fuzz_strndup(data, size);
	memset(&rates, 0, sizeof(rates));
	if (txp_rates_parse(spec, &rates, err, sizeof(err)) == 0) {
		int64_t cents;
		FUZZ_ASSERT(txp_rates_copy(&copy, &rates) == 0);
		FUZZ_ASSERT(copy.n == rates.n);
		for (size_t i = 0; i < rates.n; i++) {
			FUZZ_ASSERT(rates.items[i].micro_usd > 0);
			FUZZ_ASSERT(i == 0 || strcmp(rates.items[i - 1].currency, rates.items[i].currency) < 0);
			FUZZ_ASSERT(txp_rates_find(&copy, rates.items[i].currency) == rates.items[i].micro_usd);
			FUZZ_ASSERT(txp_rates_to_usd_cents(&rates, rates.items[i].currency, 2, INT64_MAX, &cents) == 0);
			FUZZ_ASSERT(txp_rates_to_usd_cents(&rates, rates.items[i].currency, 0, INT64_MIN, &cents) == 0);
		}
		txp_rates_free(&copy);
	}
	txp_rates_free(&rates);
	if (txp_country_set_parse(spec, &countries, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(!txp_country_set_has(&countries, ""));
		(void)txp_country_set_has(&countries, spec);
	}
	free(spec);
	return 0;
}
