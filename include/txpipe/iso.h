/* iso.h: ISO 4217 currency codes with their minor units, and ISO 3166-1 alpha-2 country codes. */
#ifndef TXPIPE_ISO_H
#define TXPIPE_ISO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One alphabetic code of ISO 4217 List One. */
struct txp_iso_currency {
	char code[4];     /* three upper-case letters, NUL-terminated */
	uint8_t exponent; /* minor-unit digits (USD 2, JPY 0, KWD 3, CLF 4);
	                    * 0 for codes whose minor unit is "N.A." */
	bool payable;     /* accepted as a transaction's currency: false for
	                    * precious metals, SDR, bond-market units, test and
	                    * "no currency" codes, and fund codes (see iso4217.c) */
};

/* The table, sorted by code, and its length.  Static storage, read-only. */
extern const struct txp_iso_currency txp_iso_currencies[];
extern const size_t txp_iso_currencies_n;

/* The officially assigned ISO 3166-1 alpha-2 codes, sorted. */
extern const char txp_iso_countries[][3];
extern const size_t txp_iso_countries_n;

/*
 * Finds the currency whose code is the `len` bytes at `code` (which need
 * not be NUL-terminated).  Exact, case-sensitive match: ISO codes are upper
 * case.  Returns a pointer into the static table, or NULL when the text is
 * not a List One code.  A found code may still be non-payable.
 */
const struct txp_iso_currency *txp_iso_currency_find(const char *code, size_t len);

/*
 * True when the `len` bytes at `code` are an officially assigned ISO 3166-1
 * alpha-2 code (exact, upper case).  User-assigned codes such as XK and
 * exceptionally reserved ones such as UK or EU are not.
 */
bool txp_iso_country_valid(const char *code, size_t len);

#endif
