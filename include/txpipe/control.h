/* control.h: parsing of the control requests of the socket ({"command":...}); the daemon acts on them. */
#ifndef TXPIPE_CONTROL_H
#define TXPIPE_CONTROL_H

#include <stddef.h>

#include <jansson.h>

enum txp_control_command {
	TXP_CONTROL_INVALID = 0, /* not a JSON object with a string "command" */
	TXP_CONTROL_UNKNOWN,     /* a command name we do not know */
	TXP_CONTROL_STATS,
	TXP_CONTROL_RELOAD,
	TXP_CONTROL_VERSION,
	TXP_CONTROL_TAIL,
	TXP_CONTROL_REDELIVER,
};

/* How many reason codes a tail subscription filters on. */
#define TXP_CONTROL_TAIL_REASONS 8

/*
 * One parsed request.  `json` is the whole request, owned; every other
 * pointer is borrowed from it and lives as long as it.  The redeliver
 * fields come from its "message" (a dead-letter message body, see
 * txp_dlq_message()) and are NULL when absent or not of the right type:
 * deciding what is missing is the caller's.  A tail request,
 * {"command":"tail","status":["declined",...],"reason":["card_testing",...]},
 * fills the tail fields; unknown statuses and non-strings are ignored.
 */
struct txp_control_request {
	enum txp_control_command command;
	const char *name;           /* the "command" string, or NULL */
	const char *format;         /* stats: "json", "text" or "prometheus" (unchecked); NULL: json */
	const char *failed;         /* redeliver: "store" or "alert" (unchecked) */
	const char *transaction_id; /* redeliver */
	const char *alert_type;     /* redeliver: for "alert" */
	json_t *payload;            /* redeliver: the message's "alert" object when failed is "alert",
	                             * else its "item" object; NULL when not an object */
	unsigned tail_statuses;     /* tail: bit (1 << status) per known name in "status"; 0: all */
	const char *tail_reasons[TXP_CONTROL_TAIL_REASONS]; /* tail: the first strings of "reason" */
	unsigned n_tail_reasons;                            /* none: all */
	json_t *json;
};

/*
 * Parses one control line (len bytes, no NUL needed; duplicate keys are
 * refused) into *req.  Never fails: a line that is not a request gives
 * TXP_CONTROL_INVALID (or NULL json when it is not JSON at all).  Release
 * with txp_control_request_free().
 */
void txp_control_parse(const char *line, size_t len, struct txp_control_request *req);

/* Releases what txp_control_parse() filled and zeroes *req. */
void txp_control_request_free(struct txp_control_request *req);

#endif
