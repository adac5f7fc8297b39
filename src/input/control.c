/* control.c: parsing of the control requests of the socket ({"command":...}); the daemon acts on them. */
#include "txpipe/control.h"

#include <string.h>

#include "txpipe/txn.h"

static const struct {
	const char *name;
	enum txp_control_command command;
} commands[] = {
	{ "stats", TXP_CONTROL_STATS }, { "reload", TXP_CONTROL_RELOAD },       { "version", TXP_CONTROL_VERSION },
	{ "tail", TXP_CONTROL_TAIL },   { "redeliver", TXP_CONTROL_REDELIVER },
};

static void parse_tail(struct txp_control_request *req)
{
	json_t *statuses = json_object_get(req->json, "status"), *reasons = json_object_get(req->json, "reason");
	json_t *v;
	size_t i;

	json_array_foreach (statuses, i, v) {
		for (int st = 0; st < TXP_STATUS_COUNT; st++)
			if (json_is_string(v) && strcmp(json_string_value(v), txp_status_name(st)) == 0)
				req->tail_statuses |= 1u << st;
	}
	json_array_foreach (reasons, i, v) {
		if (json_is_string(v) && req->n_tail_reasons < TXP_CONTROL_TAIL_REASONS)
			req->tail_reasons[req->n_tail_reasons++] = json_string_value(v);
	}
}

void txp_control_parse(const char *line, size_t len, struct txp_control_request *req)
{
	json_t *msg;

	memset(req, 0, sizeof(*req));
	req->json = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	req->name = json_string_value(json_object_get(req->json, "command"));
	if (req->name == NULL)
		return;
	req->command = TXP_CONTROL_UNKNOWN;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(req->name, commands[i].name) == 0)
			req->command = commands[i].command;
	if (req->command == TXP_CONTROL_TAIL)
		parse_tail(req);
	if (req->command == TXP_CONTROL_STATS)
		req->format = json_string_value(json_object_get(req->json, "format"));
	if (req->command != TXP_CONTROL_REDELIVER)
		return;
	msg = json_object_get(req->json, "message");
	req->failed = json_string_value(json_object_get(msg, "failed"));
	req->transaction_id = json_string_value(json_object_get(msg, "transaction_id"));
	req->alert_type = json_string_value(json_object_get(msg, "alert_type"));
	if (req->failed != NULL) {
		req->payload = json_object_get(msg, strcmp(req->failed, "alert") == 0 ? "alert" : "item");
		if (!json_is_object(req->payload))
			req->payload = NULL;
	}
}

void txp_control_request_free(struct txp_control_request *req)
{
	json_decref(req->json);
	memset(req, 0, sizeof(*req));
}
