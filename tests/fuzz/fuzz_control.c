/* fuzz_control.c: libFuzzer harness for the control-request parser of the socket (txp_control_parse). */
#include <string.h>

#include "txpipe/control.h"
#include "txpipe/txn.h"

#include "fuzz.h"

/*
 * Properties: a request has a command exactly when it is a JSON object
 * with a string "command"; the redeliver fields are set only for
 * redeliver, and its payload is an object inside the request, the
 * "alert" one exactly when failed is "alert"; the payload serialises; the
 * tail filter is set only for tail, with known statuses and at most
 * TXP_CONTROL_TAIL_REASONS codes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txp_control_request req;

	txp_control_parse((const char *)data, size, &req);
	FUZZ_ASSERT((req.command == TXP_CONTROL_INVALID) == (req.name == NULL));
	FUZZ_ASSERT(req.name == NULL || json_is_object(req.json));
	if (req.command != TXP_CONTROL_TAIL)
		FUZZ_ASSERT(req.tail_statuses == 0 && req.n_tail_reasons == 0);
	FUZZ_ASSERT(req.tail_statuses < (1u << TXP_STATUS_COUNT) && req.n_tail_reasons <= TXP_CONTROL_TAIL_REASONS);
	for (unsigned i = 0; i < req.n_tail_reasons; i++)
		(void)strlen(req.tail_reasons[i]);
	if (req.command != TXP_CONTROL_REDELIVER) {
		FUZZ_ASSERT(req.failed == NULL && req.transaction_id == NULL && req.alert_type == NULL &&
		            req.payload == NULL);
	} else if (req.payload != NULL) {
		json_t *msg = json_object_get(req.json, "message");
		char *text;

		FUZZ_ASSERT(req.failed != NULL && json_is_object(req.payload));
		FUZZ_ASSERT(req.payload == json_object_get(msg, strcmp(req.failed, "alert") == 0 ? "alert" : "item"));
		text = json_dumps(req.payload, JSON_COMPACT);
		FUZZ_ASSERT(text != NULL);
		free(text);
	}
	txp_control_request_free(&req);
	FUZZ_ASSERT(req.json == NULL && req.command == TXP_CONTROL_INVALID);
	return 0;
}
