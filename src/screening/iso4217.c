/* iso4217.c: ISO 4217 List One alphabetic codes, their minor units and whether transactions may use them. */
#include "txpipe/iso.h"

#include <string.h>

/*
 * Source: ISO 4217 "List One: Currency, fund and precious metal codes",
 * published by SIX Financial Information AG as secretariat of the ISO 4217
 * Maintenance Agency (list-one.xml, element CcyMnrUnts for the exponent),
 * transcribed 2025 with amendments up to the introduction of ZWG (Zimbabwe
 * Gold, 2024) and XCG (Caribbean Guilder, in use from 2025-03-31).  The code
 * set was cross-checked against Debian's iso-codes 4.15.0 (iso_4217.json).
 *
 * Withdrawn codes are left out: HRK (Croatia adopted the euro on
 * 2023-01-01), ZWL (replaced by ZWG in 2024), ANG (replaced by XCG in 2025)
 * and SLL (the pre-2022 leone, replaced by SLE).  A producer still sending one
 * gets "not an active ISO 4217 code", which is what it needs to hear.
 *
 * Payable: every national currency, plus CLF.  Not payable, although listed:
 *  - precious metals XAU, XAG, XPT, XPD, and the SDR XDR: commodities and a
 *    reserve asset, not currencies a card or account payment is made in;
 *  - bond-market units XBA, XBB, XBC, XBD, the SUCRE XSU and the ADB unit of
 *    account XUA: interbank accounting units;
 *  - XTS (reserved for testing) and XXX (no currency);
 *  - fund codes BOV, CHE, CHW, COU, MXV, USN, UYI and the indexed unit UYW:
 *    settlement or indexation instruments quoted beside the national
 *    currency, never what a customer pays in.
 * CLF (Chile's Unidad de Fomento, 4 minor digits) is marked as a fund in List
 * One but is kept payable: Chilean rents, loan instalments and insurance
 * premiums are denominated and billed in UF, so producers do send it.
 * Non-payable codes stay in the table so that the error can say why they are
 * refused instead of claiming the code does not exist.  Codes whose minor
 * unit is "N.A." carry exponent 0.
 */
#define PAY(c, e)          \
	{                  \
		c, e, true \
	}
#define NOPAY(c, e)         \
	{                   \
		c, e, false \
	}

const struct txp_iso_currency txp_iso_currencies[] = {
	PAY("AED", 2),   PAY("AFN", 2),   PAY("ALL", 2),   PAY("AMD", 2),   PAY("AOA", 2),   PAY("ARS", 2),
	PAY("AUD", 2),   PAY("AWG", 2),   PAY("AZN", 2),   PAY("BAM", 2),   PAY("BBD", 2),   PAY("BDT", 2),
	PAY("BGN", 2),   PAY("BHD", 3),   PAY("BIF", 0),   PAY("BMD", 2),   PAY("BND", 2),   PAY("BOB", 2),
	NOPAY("BOV", 2), PAY("BRL", 2),   PAY("BSD", 2),   PAY("BTN", 2),   PAY("BWP", 2),   PAY("BYN", 2),
	PAY("BZD", 2),   PAY("CAD", 2),   PAY("CDF", 2),   NOPAY("CHE", 2), PAY("CHF", 2),   NOPAY("CHW", 2),
	PAY("CLF", 4),   PAY("CLP", 0),   PAY("CNY", 2),   PAY("COP", 2),   NOPAY("COU", 2), PAY("CRC", 2),
	PAY("CUC", 2),   PAY("CUP", 2),   PAY("CVE", 2),   PAY("CZK", 2),   PAY("DJF", 0),   PAY("DKK", 2),
	PAY("DOP", 2),   PAY("DZD", 2),   PAY("EGP", 2),   PAY("ERN", 2),   PAY("ETB", 2),   PAY("EUR", 2),
	PAY("FJD", 2),   PAY("FKP", 2),   PAY("GBP", 2),   PAY("GEL", 2),   PAY("GHS", 2),   PAY("GIP", 2),
	PAY("GMD", 2),   PAY("GNF", 0),   PAY("GTQ", 2),   PAY("GYD", 2),   PAY("HKD", 2),   PAY("HNL", 2),
	PAY("HTG", 2),   PAY("HUF", 2),   PAY("IDR", 2),   PAY("ILS", 2),   PAY("INR", 2),   PAY("IQD", 3),
	PAY("IRR", 2),   PAY("ISK", 0),   PAY("JMD", 2),   PAY("JOD", 3),   PAY("JPY", 0),   PAY("KES", 2),
	PAY("KGS", 2),   PAY("KHR", 2),   PAY("KMF", 0),   PAY("KPW", 2),   PAY("KRW", 0),   PAY("KWD", 3),
	PAY("KYD", 2),   PAY("KZT", 2),   PAY("LAK", 2),   PAY("LBP", 2),   PAY("LKR", 2),   PAY("LRD", 2),
	PAY("LSL", 2),   PAY("LYD", 3),   PAY("MAD", 2),   PAY("MDL", 2),   PAY("MGA", 2),   PAY("MKD", 2),
	PAY("MMK", 2),   PAY("MNT", 2),   PAY("MOP", 2),   PAY("MRU", 2),   PAY("MUR", 2),   PAY("MVR", 2),
	PAY("MWK", 2),   PAY("MXN", 2),   NOPAY("MXV", 2), PAY("MYR", 2),   PAY("MZN", 2),   PAY("NAD", 2),
	PAY("NGN", 2),   PAY("NIO", 2),   PAY("NOK", 2),   PAY("NPR", 2),   PAY("NZD", 2),   PAY("OMR", 3),
	PAY("PAB", 2),   PAY("PEN", 2),   PAY("PGK", 2),   PAY("PHP", 2),   PAY("PKR", 2),   PAY("PLN", 2),
	PAY("PYG", 0),   PAY("QAR", 2),   PAY("RON", 2),   PAY("RSD", 2),   PAY("RUB", 2),   PAY("RWF", 0),
	PAY("SAR", 2),   PAY("SBD", 2),   PAY("SCR", 2),   PAY("SDG", 2),   PAY("SEK", 2),   PAY("SGD", 2),
	PAY("SHP", 2),   PAY("SLE", 2),   PAY("SOS", 2),   PAY("SRD", 2),   PAY("SSP", 2),   PAY("STN", 2),
	PAY("SVC", 2),   PAY("SYP", 2),   PAY("SZL", 2),   PAY("THB", 2),   PAY("TJS", 2),   PAY("TMT", 2),
	PAY("TND", 3),   PAY("TOP", 2),   PAY("TRY", 2),   PAY("TTD", 2),   PAY("TWD", 2),   PAY("TZS", 2),
	PAY("UAH", 2),   PAY("UGX", 0),   PAY("USD", 2),   NOPAY("USN", 2), NOPAY("UYI", 0), PAY("UYU", 2),
	NOPAY("UYW", 4), PAY("UZS", 2),   PAY("VED", 2),   PAY("VES", 2),   PAY("VND", 0),   PAY("VUV", 0),
	PAY("WST", 2),   PAY("XAF", 0),   NOPAY("XAG", 0), NOPAY("XAU", 0), NOPAY("XBA", 0), NOPAY("XBB", 0),
	NOPAY("XBC", 0), NOPAY("XBD", 0), PAY("XCD", 2),   PAY("XCG", 2),   NOPAY("XDR", 0), PAY("XOF", 0),
	NOPAY("XPD", 0), PAY("XPF", 0),   NOPAY("XPT", 0), NOPAY("XSU", 0), NOPAY("XTS", 0), NOPAY("XUA", 0),
	NOPAY("XXX", 0), PAY("YER", 2),   PAY("ZAR", 2),   PAY("ZMW", 2),   PAY("ZWG", 2),
};

const size_t txp_iso_currencies_n = sizeof(txp_iso_currencies) / sizeof(txp_iso_currencies[0]);

const struct txp_iso_currency *txp_iso_currency_find(const char *code, size_t len)
{
	size_t lo = 0, hi = txp_iso_currencies_n;

	if (len != 3)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		/* Three bytes as one number: a comparison without a memcmp call. */
		const char *m = txp_iso_currencies[mid].code;
		long c = ((long)(unsigned char)code[0] << 16 | (unsigned char)code[1] << 8 | (unsigned char)code[2]) -
		         ((long)(unsigned char)m[0] << 16 | (unsigned char)m[1] << 8 | (unsigned char)m[2]);
		if (c == 0)
			return &txp_iso_currencies[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
