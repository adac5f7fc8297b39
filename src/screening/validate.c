/* validate.c: the validation stage: read a JSON line in one pass, check every field, fill the transaction. */
#include "txpipe/validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "txpipe/ascii.h"
#include "txpipe/blake2b.h"
#include "txpipe/clock.h"
#include "txpipe/iso.h"
#include "txpipe/jsonline.h"
#include "txpipe/money.h"
#include "txpipe/pan.h"
#include "txpipe/pipeline.h"
#include "txpipe/rulelists.h"

struct txp_validator {
	/* The card-token key, ready for keyed BLAKE2b; sodium_malloc'd,
	 * read-only after creation. */
	struct txp_blake2b_key *key;
	uint64_t max_amount;
	int unknown_fields;
	struct txp_rates rates; /* max_amount in US dollars for these currencies */
};

/* ---- Wiping allocator for jansson ---------------------------------------- */

/* Validation reads lines with txp_jsonline, not jansson; the allocator is
 * kept for the process's other jansson users, so that whatever they parse
 * is wiped from freed heap memory too. */

/* Each block carries its size in a header padded to the strictest
 * alignment, so free can wipe exactly what was handed out. */
#define WIPE_HDR (sizeof(max_align_t) > sizeof(size_t) ? sizeof(max_align_t) : sizeof(size_t))

static void *wiping_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - WIPE_HDR)
		return NULL;
	p = malloc(n + WIPE_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HDR;
}

static void wiping_free(void *q)
{
	unsigned char *p;
	size_t n;

	if (q == NULL)
		return;
	p = (unsigned char *)q - WIPE_HDR;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(q, n);
	free(p);
}

int txp_validate_global_init(void)
{
	if (sodium_init() < 0)
		return -EIO;
	json_set_alloc_funcs(wiping_malloc, wiping_free);
	return 0;
}

struct txp_validator *txp_validator_new(const struct txp_config *cfg, const unsigned char key[TXP_CARD_KEY_BYTES])
{
	struct txp_validator *v;

	if (sodium_init() < 0)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		goto err;
	/* Guard pages and mlock: the key outlives every transaction. */
	v->key = sodium_malloc(sizeof(*v->key));
	if (v->key == NULL)
		goto err_after_v;
	if (txp_blake2b_key_init(v->key, key, TXP_CARD_KEY_BYTES, TXP_TOKEN_HEX / 2) != 0)
		goto err_after_key;
	sodium_mprotect_readonly(v->key);
	v->max_amount = cfg->validation.max_amount;
	v->unknown_fields = cfg->validation.unknown_fields;
	return v;

err_after_key:
	sodium_free(v->key);
err_after_v:
	free(v);
err:
	return NULL;
}

void txp_validator_free(struct txp_validator *v)
{
	if (v == NULL)
		return;
	sodium_free(v->key); /* wipes before unmapping */
	txp_rates_free(&v->rates);
	free(v);
}

int txp_validator_set_rates(struct txp_validator *v, const struct txp_rates *rates)
{
	struct txp_rates copy;

	if (txp_rates_copy(&copy, rates) != 0)
		return -ENOMEM;
	txp_rates_free(&v->rates);
	v->rates = copy;
	return 0;
}

/* The largest amount in minor units of a currency worth `rate` micro-US-
 * dollars per major unit that is worth at most `usd` dollars, capped at the
 * largest amount any currency may have. */
static int64_t usd_max_minor(uint64_t usd, uint64_t rate, unsigned exponent)
{
	unsigned __int128 m = (unsigned __int128)usd * 1000000u;
	int64_t cap = txp_money_max_minor(UINT64_C(1000000000000), exponent);

	for (unsigned i = 0; i < exponent; i++)
		m *= 10u;
	m /= rate;
	return m > (unsigned __int128)cap ? cap : (int64_t)m;
}

/* ---- Field table ----------------------------------------------------------- */

enum field {
	F_TRANSACTION_ID,
	F_AMOUNT,
	F_CURRENCY,
	F_MERCHANT_ID,
	F_CUSTOMER_ID,
	F_MERCHANT_COUNTRY,
	F_CUSTOMER_COUNTRY,
	F_TIMESTAMP,
	F_CARD_NUMBER,
	F_MERCHANT_CATEGORY,
	F_CHANNEL,
	F_IP_ADDRESS,
	F_DEVICE_ID,
	F_KYC,
	F_CUSTOMER_NAME, /* the three party names, in txp_name_fields order */
	F_COUNTERPARTY_NAME,
	F_BENEFICIARY_NAME,
	F_COUNT,
	F_FORBIDDEN = F_COUNT, /* PCI DSS sensitive authentication data */
	F_UNKNOWN
};

static const char *const field_name[F_COUNT] = {
	"transaction_id",    "amount",           "currency",  "merchant_id",         "customer_id",
	"merchant_country",  "customer_country", "timestamp", "card_number",         "merchant_category",
	"channel",           "ip_address",       "device_id", "customer_kyc_status", "customer_name",
	"counterparty_name", "beneficiary_name",
};

/*
 * Exact names, by length then bytes: a switch on the length leaves at most
 * four memcmp calls per key.  The forbidden names are the sensitive
 * authentication data that PCI DSS requirement 3.3 forbids storing after
 * authorisation: card verification codes, PINs and PIN blocks, full track
 * data.  A screening service has no use for them, so a producer sending one
 * has a bug that must be fixed, not a field to drop.
 */
static int exact_field(const char *k, size_t len)
{
#define IS(name) (memcmp(k, name, sizeof(name) - 1) == 0)
	switch (len) {
	case 3:
		return IS("cvv") || IS("cvc") || IS("cid") || IS("pin") ? F_FORBIDDEN : F_UNKNOWN;
	case 4:
		return IS("cvv2") || IS("cvc2") ? F_FORBIDDEN : F_UNKNOWN;
	case 6:
		return IS("amount") ? F_AMOUNT : IS("track1") || IS("track2") ? F_FORBIDDEN : F_UNKNOWN;
	case 7:
		return IS("channel") ? F_CHANNEL : F_UNKNOWN;
	case 8:
		return IS("currency") ? F_CURRENCY : F_UNKNOWN;
	case 9:
		return IS("timestamp")                      ? F_TIMESTAMP
		       : IS("device_id")                    ? F_DEVICE_ID
		       : IS("magstripe") || IS("pin_block") ? F_FORBIDDEN
		                                            : F_UNKNOWN;
	case 10:
		return IS("ip_address") ? F_IP_ADDRESS : IS("track_data") ? F_FORBIDDEN : F_UNKNOWN;
	case 11:
		return IS("card_number")   ? F_CARD_NUMBER
		       : IS("customer_id") ? F_CUSTOMER_ID
		       : IS("merchant_id") ? F_MERCHANT_ID
		                           : F_UNKNOWN;
	case 13:
		return IS("customer_name") ? F_CUSTOMER_NAME : F_UNKNOWN;
	case 14:
		return IS("transaction_id") ? F_TRANSACTION_ID : F_UNKNOWN;
	case 16:
		return IS("merchant_country")   ? F_MERCHANT_COUNTRY
		       : IS("customer_country") ? F_CUSTOMER_COUNTRY
		       : IS("beneficiary_name") ? F_BENEFICIARY_NAME
		                                : F_UNKNOWN;
	case 17:
		return IS("merchant_category")   ? F_MERCHANT_CATEGORY
		       : IS("counterparty_name") ? F_COUNTERPARTY_NAME
		                                 : F_UNKNOWN;
	case 19:
		return IS("customer_kyc_status") ? F_KYC : F_UNKNOWN;
	default:
		return F_UNKNOWN;
	}
#undef IS
}

/*
 * Sensitive authentication data under other spellings.  A name is folded
 * to lower case with everything but letters and digits dropped ("CVV-2",
 * "Cvv2" and "cvv_2" all become "cvv2"; "card_security_code" becomes
 * "cardsecuritycode"), then it is forbidden when
 *   - it contains a word that only ever names such data: cvv, cvc, cvn,
 *     cav2, cvd2, securitycode, pinblock, trackdata, track1, track2,
 *     magstripe, magneticstripe ("cvv_code", "card_cvc", "security_code",
 *     "cvvResult" too: refusing a verification result's name costs the
 *     producer a rename, missing a code costs a PCI DSS breach);
 *   - or it is, once a leading "card", "cardholder" or "cc" and trailing
 *     digits are dropped, one of the short names too common inside other
 *     words to be looked for there: cid, pin, csc, pincode, pinnumber
 *     ("card_pin", "PIN2", "cc_cid"; not "shipping" nor "incident").
 * Only the first FOLD_MAX letters and digits are looked at.
 */
#define FOLD_MAX 96

static bool forbidden_name(const char *key, size_t len)
{
	static const char *const words[] = {
		"cvv",      "cvc",       "cvn",    "cav2",   "cvd2",      "securitycode",
		"pinblock", "trackdata", "track1", "track2", "magstripe", "magneticstripe"
	};
	static const char *const whole[] = { "cid", "pin", "csc", "pincode", "pinnumber" };
	static const char *const prefixes[] = { "cardholder", "card", "cc" };
	char f[FOLD_MAX + 1];
	size_t n = 0, b = 0;

	for (size_t i = 0; i < len && n < FOLD_MAX; i++) {
		char c = key[i];
		if (c >= 'A' && c <= 'Z')
			f[n++] = (char)(c - 'A' + 'a');
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			f[n++] = c;
	}
	f[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(f, words[i]) != NULL)
			return true;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(f, prefixes[i], pl) == 0) {
			b = pl;
			break;
		}
	}
	while (n > b && f[n - 1] >= '0' && f[n - 1] <= '9')
		n--;
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
		if (n - b == strlen(whole[i]) && memcmp(f + b, whole[i], n - b) == 0)
			return true;
	return false;
}

/*
 * Known names match exactly.  Other names are forbidden when they spell
 * sensitive authentication data in any case and with any separators
 * (forbidden_name()): such a key still carries the data PCI DSS forbids,
 * and must not slip through as an ignored unknown.
 */
static int classify_key(const char *key, size_t len)
{
	int id = exact_field(key, len);

	if (id != F_UNKNOWN)
		return id;
	return forbidden_name(key, len) ? F_FORBIDDEN : F_UNKNOWN;
}

/*
 * Whether a producer-chosen key may be echoed in a reply: a short name of
 * [A-Za-z0-9_.-] with few digits.  Anything else (which could be a card
 * number used as a key, or control characters) is described, not quoted.
 */
static bool key_is_showable(const char *key, size_t len)
{
	size_t digits = 0;

	if (len == 0 || len > 40)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (c >= '0' && c <= '9')
			digits++;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return digits <= 6;
}

/* ---- Helpers ----------------------------------------------------------------- */

static int reject(struct txp_txn *t, const char *code, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Marks `t` rejected; returns -EINVAL so checks can `return reject(...)`. */
static int reject(struct txp_txn *t, const char *code, const char *field, const char *fmt, ...)
{
	char msg[sizeof(t->error.message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	txp_txn_fail(t, TXP_STATUS_REJECTED, code, field, "%s", msg);
	return -EINVAL;
}

/* A field's value as read from the line; NULL when the field is absent. */
typedef struct txp_jsonline_value jvalue;

static const char *type_name(const jvalue *j)
{
	return txp_jsonline_type_name(j->type);
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* A present field that must be a string of 1..max bytes. */
static int get_string(struct txp_txn *t, const jvalue *j, enum field f, size_t max, const char **s, size_t *len)
{
	const char *name = field_name[f];

	if (j->type != TXP_JSONLINE_STRING)
		return reject(t, "invalid_type", name, "%s must be a string, not %s", name, type_name(j));
	*s = j->text;
	*len = j->len;
	if (*len > max)
		return reject(t, "too_long", name, "%s must be at most %zu characters long, not %zu", name, max, *len);
	if (*len == 0)
		return reject(t, "invalid_value", name, "%s must not be empty", name);
	return 0;
}

static int missing(struct txp_txn *t, enum field f)
{
	return reject(t, "missing_field", field_name[f], "%s is required", field_name[f]);
}

/* Optional fields: absent and null both mean "not given". */
static bool given(const jvalue *j)
{
	return j != NULL && j->type != TXP_JSONLINE_NULL;
}

/* ---- Identifiers ---------------------------------------------------------- */

/* [A-Za-z0-9._:-] as a table: identifiers are most of a line's characters. */
#define ROW0 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
static const bool id_char[256] = {
	ROW0, ROW0, 0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 1, 1, 0, /* - . */
	1,    1,    1,    1,    1,    1,    1,    1,    1, 1, 1, 0, 0, 0, 0, 0,       /* 0-9 : */
	0,    1,    1,    1,    1,    1,    1,    1,    1, 1, 1, 1, 1, 1, 1, 1,       /* A-O */
	1,    1,    1,    1,    1,    1,    1,    1,    1, 1, 1, 0, 0, 0, 0, 1,       /* P-Z _ */
	0,    1,    1,    1,    1,    1,    1,    1,    1, 1, 1, 1, 1, 1, 1, 1,       /* a-o */
	1,    1,    1,    1,    1,    1,    1,    1,    1, 1, 1, 0, 0, 0, 0, 0,       /* p-z */
	ROW0, ROW0, ROW0, ROW0, ROW0, ROW0, ROW0, ROW0,
};
#undef ROW0

/* Returns the index of the first character outside [A-Za-z0-9._:-], or len. */
static size_t id_bad_char(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && id_char[(unsigned char)s[i]]; i++)
		;
	return i;
}

/* transaction_id, merchant_id and customer_id: 1..64 of [A-Za-z0-9._:-]. */
static int check_id(struct txp_txn *t, const jvalue *j, enum field f, char out[TXP_ID_MAX + 1])
{
	const char *s;
	size_t len, bad;
	int rc;

	if (j == NULL)
		return missing(t, f);
	rc = get_string(t, j, f, TXP_ID_MAX, &s, &len);
	if (rc != 0)
		return rc;
	bad = id_bad_char(s, len);
	if (bad < len)
		return reject(t, "invalid_value", field_name[f],
		              "%s may contain only letters, digits and . _ : - (bad character at position %zu)",
		              field_name[f], bad + 1);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* Records the transaction id when it is valid, without reporting anything,
 * so that a rejection for another reason can still name the transaction. */
static void peek_transaction_id(struct txp_txn *t, const jvalue *j)
{
	const char *s;
	size_t len;

	if (j == NULL || j->type != TXP_JSONLINE_STRING)
		return;
	s = j->text;
	len = j->len;
	if (len == 0 || len > TXP_ID_MAX || id_bad_char(s, len) != len)
		return;
	memcpy(t->transaction_id, s, len);
	t->transaction_id[len] = '\0';
	t->has_id = true;
}

/* ---- Codes ---------------------------------------------------------------- */

static int check_currency(struct txp_txn *t, const jvalue *j, const struct txp_iso_currency **out)
{
	const struct txp_iso_currency *c;
	const char *s;
	size_t len;
	int rc;

	if (j == NULL)
		return missing(t, F_CURRENCY);
	rc = get_string(t, j, F_CURRENCY, 16, &s, &len);
	if (rc != 0)
		return rc;
	if (len != 3 || !is_upper(s[0]) || !is_upper(s[1]) || !is_upper(s[2]))
		return reject(t, "invalid_value", "currency",
		              "currency must be an ISO 4217 code of three upper-case letters, such as EUR");
	c = txp_iso_currency_find(s, len);
	if (c == NULL)
		return reject(t, "invalid_value", "currency", "currency %s is not an active ISO 4217 code", s);
	if (!c->payable)
		return reject(t, "invalid_value", "currency",
		              "currency %s is a fund, precious-metal or special ISO 4217 code, not accepted "
		              "for transactions",
		              s);
	memcpy(t->currency, c->code, 4);
	t->currency_exponent = c->exponent;
	*out = c;
	return 0;
}

static int check_country(struct txp_txn *t, const jvalue *j, enum field f, char out[3])
{
	const char *s;
	size_t len;
	int rc;

	if (j == NULL)
		return missing(t, f);
	rc = get_string(t, j, f, 16, &s, &len);
	if (rc != 0)
		return rc;
	if (len != 2 || !is_upper(s[0]) || !is_upper(s[1]))
		return reject(t, "invalid_value", field_name[f],
		              "%s must be an ISO 3166-1 alpha-2 code of two upper-case letters, such as DE",
		              field_name[f]);
	if (!txp_iso_country_valid(s, len))
		return reject(t, "invalid_value", field_name[f],
		              "%s %s is not an officially assigned ISO 3166-1 alpha-2 code", field_name[f], s);
	memcpy(out, s, 3);
	return 0;
}

/* ---- Amount --------------------------------------------------------------- */

static int check_amount(const struct txp_validator *v, struct txp_txn *t, const jvalue *j,
                        const struct txp_iso_currency *cur)
{
	char max_text[TXP_MONEY_FMT_MAX];
	int64_t minor = 0, max_minor;
	uint64_t usd_rate;
	unsigned e = cur->exponent;
	int rc;

	if (j == NULL)
		return missing(t, F_AMOUNT);
	switch (j->type) {
	case TXP_JSONLINE_NUMBER:
		/* Exact from the text: no double ever holds the amount. */
		rc = txp_money_parse_number(j->text, j->len, e, &minor);
		break;
	case TXP_JSONLINE_STRING: {
		const char *s;
		size_t len;
		rc = get_string(t, j, F_AMOUNT, TXP_AMOUNT_TEXT_MAX, &s, &len);
		if (rc != 0)
			return rc;
		/* A signed string is outside the grammar, but "must be positive"
		 * is the more useful thing to say about "-5.00". */
		if (s[0] == '-' && txp_money_parse(s + 1, len - 1, e, &minor) == 0) {
			minor = -minor;
			rc = 0;
		} else {
			rc = txp_money_parse(s, len, e, &minor);
		}
		break;
	}
	default:
		return reject(t, "invalid_type", "amount", "amount must be a number or a decimal string, not %s",
		              type_name(j));
	}

	/* The limit is formatted only for a message: most lines pass. */
	usd_rate = txp_rates_find(&v->rates, cur->code);
	max_minor = usd_rate != 0 ? usd_max_minor(v->max_amount, usd_rate, e) : txp_money_max_minor(v->max_amount, e);
	switch (rc) {
	case 0:
		break;
	case TXP_MONEY_ESYNTAX:
		return reject(t, "invalid_value", "amount",
		              "amount must be a plain decimal such as \"12.34\": digits, an optional '.' and "
		              "fraction digits, no sign, exponent, spaces or leading zeros");
	case TXP_MONEY_EPRECISION:
		return reject(t, "amount_precision", "amount", "amount has more fraction digits than %s allows (%u)",
		              cur->code, e);
	case TXP_MONEY_ERANGE:
	default:
		txp_money_format(max_minor, e, max_text, sizeof(max_text));
		return reject(t, "amount_range", "amount",
		              "amount is out of range: it must be above zero and at "
		              "most %s %s",
		              max_text, cur->code);
	}
	if (minor <= 0)
		return reject(t, "amount_range", "amount", "amount must be greater than zero");
	if (minor > max_minor) {
		txp_money_format(max_minor, e, max_text, sizeof(max_text));
		if (usd_rate != 0)
			return reject(t, "amount_range", "amount",
			              "amount must be at most %s %s (%llu US dollars at the configured rates)",
			              max_text, cur->code, (unsigned long long)v->max_amount);
		return reject(t, "amount_range", "amount", "amount must be at most %s %s", max_text, cur->code);
	}
	t->amount = minor;
	return 0;
}

/* ---- Timestamp ------------------------------------------------------------- */

static int check_timestamp(struct txp_txn *t, const jvalue *j)
{
	const char *s;
	size_t len;
	int rc = get_string(t, j, F_TIMESTAMP, TXP_TIMESTAMP_MAX, &s, &len);

	if (rc != 0)
		return rc;
	if (txp_time_parse_rfc3339(s, len, &t->timestamp_ms) != 0)
		return reject(t, "invalid_value", "timestamp",
		              "timestamp must be an RFC 3339 date-time with a real calendar date and a zone, "
		              "such as 2024-05-01T12:30:00Z or 2024-05-01T14:30:00.250+02:00");
	t->has_timestamp = true;
	return 0;
}

/* ---- Card number ------------------------------------------------------------ */

/* Luhn (ISO/IEC 7812-1 annex B): double every second digit from the right. */
static bool luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned x = (unsigned)(d[n - 1 - i] - '0');
		if (i % 2 == 1) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return sum % 10 == 0;
}

/*
 * Digits, optionally in groups separated by single spaces or by single
 * dashes (one kind per number).  Produces the BIN, the last four digits and
 * the keyed token; the full number is held only in `digits`, wiped on every
 * path.  Messages never quote any digit.
 */
static int check_card(const struct txp_validator *v, struct txp_txn *t, const jvalue *j)
{
	char digits[TXP_CARD_MAX_DIGITS + 1];
	unsigned char tok[TXP_TOKEN_HEX / 2];
	const char *s = NULL; /* set by get_string; GCC -O2 cannot see it */
	char sep = 0;
	size_t len = 0, n = 0;
	int rc = get_string(t, j, F_CARD_NUMBER, TXP_CARD_TEXT_MAX, &s, &len);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (txp_is_digit(c)) {
			if (n == TXP_CARD_MAX_DIGITS) {
				rc = reject(t, "invalid_value", "card_number", "card_number must have %d to %d digits",
				            TXP_CARD_MIN_DIGITS, TXP_CARD_MAX_DIGITS);
				goto out;
			}
			digits[n++] = c;
		} else if ((c == ' ' || c == '-') && (sep == 0 || c == sep) && i > 0 && txp_is_digit(s[i - 1]) &&
		           i + 1 < len && txp_is_digit(s[i + 1])) {
			sep = c;
		} else {
			rc = reject(t, "invalid_value", "card_number",
			            "card_number must be digits, optionally grouped by single spaces or single "
			            "dashes");
			goto out;
		}
	}
	if (n < TXP_CARD_MIN_DIGITS) {
		rc = reject(t, "invalid_value", "card_number", "card_number must have %d to %d digits",
		            TXP_CARD_MIN_DIGITS, TXP_CARD_MAX_DIGITS);
		goto out;
	}
	if (!luhn_ok(digits, n)) {
		rc = reject(t, "invalid_value", "card_number", "card_number fails the Luhn check digit test");
		goto out;
	}
	txp_blake2b(v->key, tok, digits, n);
	sodium_bin2hex(t->card_token, sizeof(t->card_token), tok, sizeof(tok));
	memcpy(t->card_bin, digits, 6);
	t->card_bin[6] = '\0';
	memcpy(t->card_last4, digits + n - 4, 4);
	t->card_last4[4] = '\0';
	t->has_card = true;
out:
	sodium_memzero(digits, sizeof(digits));
	sodium_memzero(tok, sizeof(tok));
	return rc;
}

/* ---- Other optional fields -------------------------------------------------- */

static int check_mcc(struct txp_txn *t, const jvalue *j)
{
	const char *s;
	size_t len;
	int rc = get_string(t, j, F_MERCHANT_CATEGORY, 16, &s, &len);

	if (rc != 0)
		return rc;
	if (len != 4 || !txp_is_digit(s[0]) || !txp_is_digit(s[1]) || !txp_is_digit(s[2]) || !txp_is_digit(s[3]))
		return reject(t, "invalid_value", "merchant_category",
		              "merchant_category must be an ISO 18245 code of exactly four digits, such as \"5411\"");
	memcpy(t->merchant_category, s, 5);
	return 0;
}

/* Matches a string field against `names` (index = enum value, [0] unused). */
static int check_enum(struct txp_txn *t, const jvalue *j, enum field f, const char *const *names, int count,
                      const char *choices, int *out)
{
	const char *s;
	size_t len;
	int rc = get_string(t, j, f, 16, &s, &len);

	if (rc != 0)
		return rc;
	for (int i = 1; i < count; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return reject(t, "invalid_value", field_name[f], "%s must be one of %s", field_name[f], choices);
}

/* Dotted decimal, as inet_ntop writes it, without going through sprintf
 * (which costs more than the rest of the line's validation). */
static void format_ipv4(const unsigned char b[4], char *out)
{
	for (int k = 0; k < 4; k++) {
		unsigned x = b[k];
		if (x >= 100)
			*out++ = (char)('0' + x / 100);
		if (x >= 10)
			*out++ = (char)('0' + x / 10 % 10);
		*out++ = (char)('0' + x % 10);
		*out++ = k < 3 ? '.' : '\0';
	}
}

static int check_ip(struct txp_txn *t, const jvalue *j)
{
	char text[TXP_IP_MAX + 1];
	unsigned char bin[16];
	const char *s;
	size_t len;
	int rc = get_string(t, j, F_IP_ADDRESS, TXP_IP_MAX, &s, &len);

	if (rc != 0)
		return rc;
	memcpy(text, s, len + 1);
	/* Stored in canonical form (RFC 5952 for IPv6) so that the fraud stage
	 * compares addresses, not spellings. */
	if (inet_pton(AF_INET, text, bin) == 1) {
		format_ipv4(bin, t->ip_address);
		return 0;
	}
	if (inet_pton(AF_INET6, text, bin) != 1)
		return reject(t, "invalid_value", "ip_address",
		              "ip_address must be an IPv4 address (dotted quad) or an IPv6 address");
	if (inet_ntop(AF_INET6, bin, t->ip_address, sizeof(t->ip_address)) == NULL)
		return reject(t, "invalid_value", "ip_address", "ip_address cannot be represented");
	return 0;
}

static int check_device(struct txp_txn *t, const jvalue *j)
{
	const char *s;
	size_t len;
	int rc = get_string(t, j, F_DEVICE_ID, TXP_DEVICE_ID_MAX, &s, &len);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return reject(t, "invalid_value", "device_id",
			              "device_id must be printable ASCII (bad character at position %zu)", i + 1);
	memcpy(t->device_id, s, len + 1);
	return 0;
}

/*
 * A party name: a string of at most TXP_NAME_MAX bytes of valid UTF-8
 * without control characters.  The value is personal data, so no message
 * quotes it; it is kept only until the compliance stage has screened it.
 */
static int check_name(struct txp_txn *t, const jvalue *j, enum field f, char *out)
{
	const unsigned char *s;
	const char *raw;
	size_t len, i = 0;
	int rc = get_string(t, j, f, TXP_NAME_MAX, &raw, &len);

	if (rc != 0)
		return rc;
	s = (const unsigned char *)raw;
	while (i < len) {
		unsigned char c = s[i];
		size_t more = c < 0x80                 ? 0
		              : c >= 0xc2 && c <= 0xdf ? 1
		              : c >= 0xe0 && c <= 0xef ? 2
		              : c >= 0xf0 && c <= 0xf4 ? 3
		                                       : 4;
		if (c < 0x20 || c == 0x7f)
			return reject(t, "invalid_value", field_name[f],
			              "%s must not contain control characters (position %zu)", field_name[f], i + 1);
		if (more == 4 || len - i <= more)
			goto bad;
		for (size_t k = 1; k <= more; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
		/* Overlong three-byte forms, surrogates, and past U+10FFFF. */
		if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
		    (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
			goto bad;
		i += more + 1;
	}
	memcpy(out, raw, len);
	out[len] = '\0';
	return 0;
bad:
	return reject(t, "invalid_value", field_name[f], "%s must be valid UTF-8 (bad byte at position %zu)",
	              field_name[f], i + 1);
}

/* ---- Parse errors ------------------------------------------------------------ */

/*
 * The reader's messages are static descriptions and never quote the input
 * (which could hold a card number); the column says where it stopped.
 * Duplicate keys, NUL characters and unrepresentable numbers are valid JSON
 * that this protocol refuses, so they are rejections, not malformed lines.
 */
static int fail_parse(struct txp_txn *t, const struct txp_jsonline *r)
{
	switch (r->error) {
	case TXP_JSONLINE_EDUPLICATE:
		if (key_is_showable(r->dup_key, r->dup_key_len))
			txp_txn_fail(t, TXP_STATUS_REJECTED, "duplicate_field", r->dup_key,
			             "field %s appears more than once", r->dup_key);
		else
			txp_txn_fail(t, TXP_STATUS_REJECTED, "duplicate_field", NULL,
			             "a field appears more than once (column %zu)", r->column);
		break;
	case TXP_JSONLINE_ENUL:
		txp_txn_fail(t, TXP_STATUS_REJECTED, "invalid_value", NULL,
		             "strings must not contain \\u0000 (column %zu)", r->column);
		break;
	case TXP_JSONLINE_ERANGE:
		txp_txn_fail(t, TXP_STATUS_REJECTED, "invalid_value", NULL,
		             "a number is too large to be represented (column %zu)", r->column);
		break;
	case TXP_JSONLINE_ENOTOBJECT:
		txp_txn_fail(t, TXP_STATUS_ERROR, "malformed_json", NULL, "the line must be a JSON object, not %s",
		             r->what);
		break;
	case TXP_JSONLINE_EDEPTH:
		txp_txn_fail(t, TXP_STATUS_ERROR, "malformed_json", NULL,
		             "the line nests values more than %d levels deep (column %zu)", TXP_JSONLINE_MAX_DEPTH,
		             r->column);
		break;
	case TXP_JSONLINE_ELIMIT:
		txp_txn_fail(t, TXP_STATUS_ERROR, "malformed_json", NULL,
		             "the line has more than %d fields (column %zu)", TXP_JSONLINE_MAX_MEMBERS, r->column);
		break;
	case TXP_JSONLINE_ESYNTAX:
	default:
		txp_txn_fail(t, TXP_STATUS_ERROR, "malformed_json", NULL,
		             "the line is not valid JSON: %s at column %zu", r->what, r->column);
		break;
	}
	return -EINVAL;
}

/* ---- Identity ------------------------------------------------------------------ */

/*
 * A transaction_id that holds a card number cannot be kept (PCI DSS), and
 * masking it made different ids one ("2024120600000008" and
 * "2024120600000016" both became "****************", so the second was
 * answered as a duplicate of the first, unscreened).  It is replaced by a
 * token of the whole id: TXP_ID_TOKEN_PREFIX and a keyed BLAKE2b (under
 * the card-token key, with the field name hashed first so that it never
 * equals a card token) of the id as sent, in base32.  The same id always
 * gives the same token, different ids different tokens, and nobody without
 * the key can go back from the token to the number.  Base32 (RFC 4648,
 * lower case, a-z and 2-7) rather than hex: hex has 13 or more digits in a
 * row once in ~60 tokens, a tenth of those pass Luhn, and an id that looks
 * like a card number to every scanner downstream is what this replaces.
 */
static void tokenise_id(const struct txp_validator *v, struct txp_txn *t)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char digest[TXP_TOKEN_HEX / 2];
	size_t len = strlen(t->transaction_id), start, end, o;
	size_t plen = sizeof(TXP_ID_TOKEN_PREFIX) - 1;
	unsigned acc = 0, bits = 0;

	if (!txp_pan_find(t->transaction_id, len, 0, &start, &end))
		return;
	txp_blake2b_labelled(v->key, digest, "transaction_id", t->transaction_id, len);
	sodium_memzero(t->transaction_id, sizeof(t->transaction_id));
	memcpy(t->transaction_id, TXP_ID_TOKEN_PREFIX, plen);
	o = plen;
	for (size_t i = 0; i < sizeof(digest); i++) {
		acc = (acc << 8 | digest[i]) & 0xfff;
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			t->transaction_id[o++] = b32[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		t->transaction_id[o++] = b32[(acc << (5 - bits)) & 31];
	t->transaction_id[o] = '\0';
	t->id_tokenised = true;
	acc = 0;
	sodium_memzero(digest, sizeof(digest));
}

/* ---- The stage ------------------------------------------------------------------ */

static int check_fields(const struct txp_validator *v, struct txp_txn *t, const jvalue *const slot[F_COUNT],
                        const char *forbidden, const char *unknown)
{
	const struct txp_iso_currency *cur = NULL;
	int rc, val;

	peek_transaction_id(t, slot[F_TRANSACTION_ID]);
	if (forbidden != NULL) {
		bool show = key_is_showable(forbidden, strlen(forbidden));
		return reject(t, "forbidden_field", show ? forbidden : NULL,
		              "field %s must never be sent: card security codes, PINs and track data are "
		              "sensitive authentication data (PCI DSS)",
		              show ? forbidden : "(a card-security field)");
	}
	if (unknown != NULL && v->unknown_fields == TXP_UNKNOWN_REJECT) {
		if (key_is_showable(unknown, strlen(unknown)))
			return reject(t, "unknown_field", unknown, "unknown field %s", unknown);
		return reject(t, "unknown_field", NULL, "a field whose name is not part of the protocol was sent");
	}

	if ((rc = check_id(t, slot[F_TRANSACTION_ID], F_TRANSACTION_ID, t->transaction_id)) != 0 ||
	    (rc = check_currency(t, slot[F_CURRENCY], &cur)) != 0 ||
	    (rc = check_amount(v, t, slot[F_AMOUNT], cur)) != 0 ||
	    (rc = check_id(t, slot[F_MERCHANT_ID], F_MERCHANT_ID, t->merchant_id)) != 0 ||
	    (rc = check_id(t, slot[F_CUSTOMER_ID], F_CUSTOMER_ID, t->customer_id)) != 0 ||
	    (rc = check_country(t, slot[F_MERCHANT_COUNTRY], F_MERCHANT_COUNTRY, t->merchant_country)) != 0 ||
	    (rc = check_country(t, slot[F_CUSTOMER_COUNTRY], F_CUSTOMER_COUNTRY, t->customer_country)) != 0)
		return rc;
	t->shard = txp_shard_hash(t->customer_id);

	if (given(slot[F_TIMESTAMP]) && (rc = check_timestamp(t, slot[F_TIMESTAMP])) != 0)
		return rc;
	if (given(slot[F_CARD_NUMBER]) && (rc = check_card(v, t, slot[F_CARD_NUMBER])) != 0)
		return rc;
	if (given(slot[F_MERCHANT_CATEGORY]) && (rc = check_mcc(t, slot[F_MERCHANT_CATEGORY])) != 0)
		return rc;
	if (given(slot[F_CHANNEL])) {
		static const char *const names[] = { "", "online", "pos", "atm", "mobile", "moto" };
		rc = check_enum(t, slot[F_CHANNEL], F_CHANNEL, names, TXP_CHANNEL_COUNT,
		                "online, pos, atm, mobile, moto", &val);
		if (rc != 0)
			return rc;
		t->channel = (enum txp_channel)val;
	}
	if (given(slot[F_IP_ADDRESS]) && (rc = check_ip(t, slot[F_IP_ADDRESS])) != 0)
		return rc;
	if (given(slot[F_DEVICE_ID]) && (rc = check_device(t, slot[F_DEVICE_ID])) != 0)
		return rc;
	if (given(slot[F_KYC])) {
		static const char *const names[] = { "", "verified", "pending", "unverified", "failed" };
		rc = check_enum(t, slot[F_KYC], F_KYC, names, TXP_KYC_COUNT, "verified, pending, unverified, failed",
		                &val);
		if (rc != 0)
			return rc;
		t->kyc = (enum txp_kyc)val;
	}
	for (int k = 0; k < TXP_NAME_FIELDS; k++) {
		enum field f = (enum field)(F_CUSTOMER_NAME + k);
		if (given(slot[f]) && (rc = check_name(t, slot[f], f, t->names[k])) != 0)
			return rc;
	}
	return 0;
}

int txp_validate(const struct txp_validator *v, struct txp_txn *t)
{
	struct txp_jsonline r;
	struct txp_jsonline_member m;
	jvalue val[F_COUNT];
	const jvalue *slot[F_COUNT] = { 0 };
	const char *forbidden = NULL, *unknown = NULL;
	int rc;

	if (t->line == NULL) {
		txp_txn_fail(t, TXP_STATUS_ERROR, "internal_error", NULL, "no line to validate");
		return -EINVAL;
	}
	/* One pass maps each top-level member to its slot; the reader refuses
	 * repeated keys, so each slot is written at most once.  Values point
	 * into the line, decoded in place, until it is wiped below. */
	txp_jsonline_init(&r, t->line, t->line_len);
	while ((rc = txp_jsonline_next(&r, &m)) > 0) {
		int id = classify_key(m.key, m.key_len);
		if (id < F_COUNT) {
			val[id] = m.value;
			slot[id] = &val[id];
		} else if (id == F_FORBIDDEN && forbidden == NULL) {
			forbidden = m.key;
		} else if (id == F_UNKNOWN && unknown == NULL) {
			unknown = m.key;
		}
	}
	if (rc < 0)
		rc = fail_parse(t, &r);
	else
		rc = check_fields(v, t, slot, forbidden, unknown);
	/* Whatever the outcome: a rejected line's id is echoed and kept too. */
	if (t->has_id)
		tokenise_id(v, t);

	/* The line holds every decoded value, the card number and any
	 * forbidden field among them: it goes now, whatever the outcome. */
	txp_jsonline_wipe(&r);
	txp_txn_drop_line(t);
	return rc;
}
