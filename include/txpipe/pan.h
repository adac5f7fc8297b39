/* pan.h: finding and masking card numbers (PANs) in free text, for PCI DSS. */
#ifndef TXPIPE_PAN_H
#define TXPIPE_PAN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What counts as a card number: 13 to 19 digits that pass the Luhn check
 * (ISO/IEC 7812-1), possibly after leading zeros that keep the whole
 * within 19 digits ("04111111111111111": padding), written either as one run of digits or
 * as groups of digits joined by single separators in a card's printed
 * layout: fours with a shorter last group ("4111 1111 1111 1111",
 * "4111.1111.1111.1111-111"), 4-6-5 (American Express), 4-6-4 (Diners
 * Club), or 8-8 ("41111111.11111111").  A separator is any printable ASCII
 * character other than a letter or digit, the same one throughout a
 * number (spaces and dashes may mix).
 * Other groupings ("ord-666943-000000000297") are identifiers, not card
 * numbers.  A candidate starts and ends at a group boundary:
 * a digit run longer than 19 digits with no separators is some other
 * number and is not searched inside (a 30-digit reference would otherwise
 * hold a Luhn-valid window most of the time).  Letters and other characters
 * end a group, so "dev4111111111111111x" matches.  The first digit (the
 * ISO/IEC 7812 major industry identifier) must be 2-9, and a 13-digit
 * number must start with 4, 5 or 6 (Visa, Maestro): this keeps Unix
 * timestamps in milliseconds, common in identifiers, from matching, at the
 * cost of missing UATP airline cards (MII 1).
 *
 * False positives exist by design (about one in ten random 13-19 digit
 * numbers passes Luhn; IMEIs are 15 Luhn-checked digits): this is a
 * data-protection filter, and masking a non-card number loses little.
 */

/* Minimum and maximum PAN lengths, ISO/IEC 7812-1. */
#define TXP_PAN_MIN_DIGITS 13
#define TXP_PAN_MAX_DIGITS 19

/* Whether the `n` digits at `d` (ASCII '0'..'9') pass the Luhn check. */
bool txp_pan_luhn(const char *d, size_t n);

/*
 * Finds the first card number in `s[from..len)`.  Returns true and sets
 * [*start, *end) to the span from its first to its last digit (separators
 * inside included), or false.
 */
bool txp_pan_find(const char *s, size_t len, size_t from, size_t *start, size_t *end);

/*
 * Replaces every digit of every card number in the NUL-terminated `s` with
 * '*', in place (separators and length are kept).  Returns how many card
 * numbers it masked.
 */
size_t txp_pan_mask(char *s);

#endif
