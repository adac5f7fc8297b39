/* iso3166.c: the officially assigned ISO 3166-1 alpha-2 country codes. */
#include "txpipe/iso.h"

#include <string.h>

/*
 * Source: ISO 3166 Maintenance Agency, ISO Online Browsing Platform
 * (https://www.iso.org/obp/ui/#search/code/), "officially assigned" alpha-2
 * codes: 249 codes, unchanged since the 2011 additions of BQ, CW, SX and SS.
 * Transcribed 2025; cross-checked against Debian's iso-codes 4.15.0
 * (iso_3166-1.json), which tracks the same list.
 *
 * Only officially assigned codes are accepted.  User-assigned codes (AA,
 * QM..QZ, XA..XZ, ZZ, including XK which some banks use for Kosovo),
 * exceptionally reserved codes (EU, UK, UN, ...) and transitionally reserved
 * ones (AN, CS, ...) are rejected: a screening decision keyed on a country
 * must be keyed on a code everyone agrees on.
 */
const char txp_iso_countries[][3] = {
	"AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB",
	"BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY",
	"BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX",
	"CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK",
	"FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
	"GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR",
	"IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA",
	"LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
	"ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE",
	"NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
	"PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG",
	"SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF",
	"TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY",
	"UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

const size_t txp_iso_countries_n = sizeof(txp_iso_countries) / sizeof(txp_iso_countries[0]);

bool txp_iso_country_valid(const char *code, size_t len)
{
	size_t lo = 0, hi = txp_iso_countries_n;

	if (len != 2)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		/* Two bytes as one number: a comparison without a memcmp call. */
		int c = ((unsigned char)code[0] << 8 | (unsigned char)code[1]) -
		        ((unsigned char)txp_iso_countries[mid][0] << 8 | (unsigned char)txp_iso_countries[mid][1]);
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}
