/* feed.c: the fleet's shared state on the wire: events, feed items, feed keys and the members item (pure). */
#include "txp_build_config.h"

#include "txpipe/fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "txpipe/base64.h"
#include "txpipe/txn.h"

#define FLAG_USD_KNOWN 1u
#define FLAG_HAS_CARD 2u
#define FLAGS_KNOWN (FLAG_USD_KNOWN | FLAG_HAS_CARD)

static bool screened(const struct txp_txn *t)
{
	return t->status <= TXP_STATUS_DECLINED && !t->duplicate && !t->fleet_apply && t->customer_key[0] != '\0';
}

int txp_fleet_event_from_txn(const struct txp_txn *t, struct txp_fleet_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!screened(t) || t->received_ms < 0 || t->amount < 0 || strlen(t->currency) != 3)
		return -EINVAL;
	ev->ms = t->received_ms;
	ev->amount = t->amount;
	ev->usd_known = t->amount_usd_known && t->amount_usd >= 0;
	ev->amount_usd = ev->usd_known ? t->amount_usd : 0;
	memcpy(ev->currency, t->currency, 4);
	ev->has_card = t->has_card && t->card_token[0] != '\0';
	if (txp_hex_decode(t->customer_key, ev->customer, sizeof(ev->customer)) < 0 ||
	    txp_hex_decode(t->merchant_key, ev->merchant, sizeof(ev->merchant)) < 0 ||
	    (ev->has_card && txp_hex_decode(t->card_token, ev->card, sizeof(ev->card)) < 0))
		return -EINVAL;
	return 0;
}

void txp_fleet_event_to_txn(const struct txp_fleet_event *ev, struct txp_txn *t)
{
	t->fleet_apply = true;
	t->received_ms = ev->ms;
	t->amount = ev->amount;
	memcpy(t->currency, ev->currency, 4);
	t->amount_usd_known = ev->usd_known;
	t->amount_usd = ev->amount_usd;
	/* Lower-case hex, as txp_compliance_pseudonym() and the card token
	 * write them, so the keys hash alike on every host. */
	sodium_bin2hex(t->customer_key, sizeof(t->customer_key), ev->customer, 16);
	sodium_bin2hex(t->merchant_key, sizeof(t->merchant_key), ev->merchant, 16);
	t->has_card = ev->has_card;
	if (ev->has_card)
		sodium_bin2hex(t->card_token, sizeof(t->card_token), ev->card, 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void txp_fleet_event_encode(const struct txp_fleet_event *ev, uint8_t *out)
{
	out[0] = (uint8_t)((ev->usd_known ? FLAG_USD_KNOWN : 0) | (ev->has_card ? FLAG_HAS_CARD : 0));
	put64(out + 1, (uint64_t)ev->ms);
	put64(out + 9, (uint64_t)ev->amount);
	put64(out + 17, (uint64_t)ev->amount_usd);
	memcpy(out + 25, ev->currency, 3);
	memcpy(out + 28, ev->customer, 16);
	memcpy(out + 44, ev->merchant, 16);
	if (ev->has_card)
		memcpy(out + 60, ev->card, 16);
	else
		memset(out + 60, 0, 16);
}

int txp_fleet_event_decode(const uint8_t *in, struct txp_fleet_event *ev)
{
	static const uint8_t zero[16];

	memset(ev, 0, sizeof(*ev));
	if ((in[0] & ~FLAGS_KNOWN) != 0)
		return -EINVAL;
	ev->usd_known = (in[0] & FLAG_USD_KNOWN) != 0;
	ev->has_card = (in[0] & FLAG_HAS_CARD) != 0;
	ev->ms = (int64_t)get64(in + 1);
	ev->amount = (int64_t)get64(in + 9);
	ev->amount_usd = (int64_t)get64(in + 17);
	if (ev->ms < 0 || ev->amount < 0 || ev->amount_usd < 0 || (!ev->usd_known && ev->amount_usd != 0))
		return -EINVAL;
	for (unsigned i = 0; i < 3; i++) {
		if (in[25 + i] < 'A' || in[25 + i] > 'Z')
			return -EINVAL;
		ev->currency[i] = (char)in[25 + i];
	}
	memcpy(ev->customer, in + 28, 16);
	memcpy(ev->merchant, in + 44, 16);
	memcpy(ev->card, in + 60, 16);
	if (!ev->has_card && memcmp(ev->card, zero, 16) != 0)
		return -EINVAL;
	return 0;
}

void txp_fleet_item_header(uint8_t out[TXP_FLEET_ITEM_HEADER], uint32_t count)
{
	out[0] = TXP_FLEET_FEED_VERSION;
	for (unsigned i = 0; i < 4; i++)
		out[1 + i] = (uint8_t)(count >> (8 * i));
}

int txp_fleet_item_decode(const uint8_t *buf, size_t len, void (*each)(void *arg, const struct txp_fleet_event *ev),
                          void *arg)
{
	struct txp_fleet_event ev;
	uint32_t count = 0;

	if (len < TXP_FLEET_ITEM_HEADER || buf[0] != TXP_FLEET_FEED_VERSION)
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++)
		count |= (uint32_t)buf[1 + i] << (8 * i);
	if (count > TXP_FLEET_ITEM_EVENTS || len != TXP_FLEET_ITEM_HEADER + (size_t)count * TXP_FLEET_EVENT_BYTES)
		return -EINVAL;
	/* All or nothing: a bad event anywhere rejects the item before any
	 * is applied, so an item is never half counted. */
	for (uint32_t i = 0; i < count; i++)
		if (txp_fleet_event_decode(buf + TXP_FLEET_ITEM_HEADER + (size_t)i * TXP_FLEET_EVENT_BYTES, &ev) < 0)
			return -EINVAL;
	for (uint32_t i = 0; i < count && each != NULL; i++) {
		(void)txp_fleet_event_decode(buf + TXP_FLEET_ITEM_HEADER + (size_t)i * TXP_FLEET_EVENT_BYTES, &ev);
		each(arg, &ev);
	}
	return (int)count;
}

/* A decimal in a DynamoDB N attribute, unsigned and without sign or
 * exponent: the only form this module writes. */
static int number_attr(const json_t *av, uint64_t *out)
{
	const char *s = json_string_value(json_object_get(av, "N"));
	uint64_t v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 19)
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int txp_fleet_members_parse(const char *body, size_t len, struct txp_fleet_member *out, size_t max, size_t *skipped)
{
	json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *item, *av;
	const char *name;
	size_t n = 0;

	*skipped = 0;
	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	item = json_object_get(root, "Item");
	if (item != NULL && !json_is_object(item)) {
		json_decref(root);
		return -EINVAL;
	}
	json_object_foreach (item, name, av) {
		json_t *m = json_object_get(av, "M");
		uint64_t first, last, hb, pf = 0, pl = 0;

		if (strncmp(name, "h_", 2) != 0)
			continue; /* pk, expires */
		if (!json_is_object(m) || !txp_fleet_instance_id_valid(name + 2) ||
		    number_attr(json_object_get(m, "f"), &first) < 0 ||
		    number_attr(json_object_get(m, "l"), &last) < 0 || number_attr(json_object_get(m, "t"), &hb) < 0 ||
		    first == 0 || last + 1 < first || hb > (uint64_t)INT64_MAX || n == max) {
			(*skipped)++;
			continue;
		}
		snprintf(out[n].id, sizeof(out[n].id), "%s", name + 2);
		out[n].first = first;
		out[n].last = last;
		out[n].heartbeat_ms = (int64_t)hb;
		/* The run before: optional (written by hosts that restarted),
		 * ignored unless a non-empty range before this run. */
		if (number_attr(json_object_get(m, "pf"), &pf) < 0 || number_attr(json_object_get(m, "pl"), &pl) < 0 ||
		    pf == 0 || pl < pf || pl >= first)
			pf = pl = 0;
		out[n].prev_first = pf;
		out[n].prev_last = pl;
		n++;
	}
	json_decref(root);
	return (int)n;
}

uint64_t txp_fleet_member_resume(const struct txp_fleet_member *m, uint64_t next)
{
	if (next >= m->first)
		return next;
	if (m->prev_first == 0 || next > m->prev_last)
		return m->first;
	return next >= m->prev_first ? next : m->prev_first;
}

int txp_fleet_feed_key_parse(const char *key, size_t len, char *id, uint64_t *seq)
{
	const char *bar;
	size_t idlen;
	uint64_t v = 0;

	if (len < 8 || memcmp(key, "feed|", 5) != 0)
		return -EINVAL;
	bar = memchr(key + 5, '|', len - 5);
	if (bar == NULL)
		return -EINVAL;
	idlen = (size_t)(bar - (key + 5));
	if (idlen == 0 || idlen > TXP_FLEET_INSTANCE_ID_MAX)
		return -EINVAL;
	memcpy(id, key + 5, idlen);
	id[idlen] = '\0';
	if (!txp_fleet_instance_id_valid(id))
		return -EINVAL;
	bar++;
	if (bar == key + len || key + len - bar > 19)
		return -EINVAL;
	for (; bar < key + len; bar++) {
		if (*bar < '0' || *bar > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*bar - '0');
	}
	*seq = v;
	return 0;
}
