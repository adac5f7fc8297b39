/* txn.h: one transaction as it travels through the pipeline, and its decision. */
#ifndef TXPIPE_TXN_H
#define TXPIPE_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TXP_ID_MAX 64 /* transaction_id, merchant_id, customer_id */
#define TXP_DEVICE_ID_MAX 128
#define TXP_IP_MAX 45              /* longest textual IPv6 address */
#define TXP_TOKEN_HEX 32           /* 16-byte keyed BLAKE2b tokens, hex */
#define TXP_MAX_REASONS 40         /* fraud can add ~26, compliance ~8 */
#define TXP_ID_TOKEN_PREFIX "tok_" /* a tokenised transaction_id: see id_tokenised */
#define TXP_ID_TOKEN_LEN 30        /* its length: the prefix and 26 base32 characters */
#define TXP_FINGERPRINT_BYTES 16   /* struct txp_txn's fingerprint */
#define TXP_RULES_VERSION_SIZE 13  /* 12 hex digits and the NUL (stages.h) */

/* Party names screened against the sanctions name lists (see names.h):
 * customer_name, counterparty_name, beneficiary_name, in that order. */
#define TXP_NAME_FIELDS 3
#define TXP_NAME_MAX 200      /* bytes of UTF-8 */
#define TXP_NAME_LIST_MAX 15  /* a name list's label ("ofac") */
#define TXP_NAME_ENTRY_MAX 64 /* a list entry's identifier (OFAC's ent_num) */

enum txp_status {
	TXP_STATUS_APPROVED = 0,
	TXP_STATUS_REVIEW,
	TXP_STATUS_DECLINED,
	TXP_STATUS_REJECTED, /* failed validation: error names the field */
	TXP_STATUS_ERROR,    /* could not be processed at all */
	TXP_STATUS_COUNT
};

/* How urgent an alert is; ordered so the larger value wins when combining. */
enum txp_severity {
	TXP_SEVERITY_NONE = 0, /* no alert */
	TXP_SEVERITY_LOW,
	TXP_SEVERITY_MEDIUM,
	TXP_SEVERITY_HIGH,
	TXP_SEVERITY_CRITICAL,
	TXP_SEVERITY_COUNT
};

enum txp_channel {
	TXP_CHANNEL_UNSPECIFIED = 0,
	TXP_CHANNEL_ONLINE,
	TXP_CHANNEL_POS,
	TXP_CHANNEL_ATM,
	TXP_CHANNEL_MOBILE,
	TXP_CHANNEL_MOTO,
	TXP_CHANNEL_COUNT
};

enum txp_kyc {
	TXP_KYC_UNSPECIFIED = 0,
	TXP_KYC_VERIFIED,
	TXP_KYC_PENDING,
	TXP_KYC_UNVERIFIED,
	TXP_KYC_FAILED,
	TXP_KYC_COUNT
};

/* A reason code contributing to the decision.  `code` points at a static
 * string (a stable, documented code such as "velocity_customer_1h");
 * `points` is its contribution to the risk score (0 for pure flags). */
struct txp_reason {
	const char *code;
	int points;
};

/* Why a line was rejected or could not be processed.  `code` is a stable
 * machine-readable code ("missing_field", "invalid_type", ...), `field` the
 * JSON field name when there is one (empty otherwise). */
struct txp_error {
	char code[32];
	char field[48];
	char message[192];
};

struct txp_conn; /* owned by the server on the loop thread */

struct txp_txn {
	/* Set by the loop thread when the line is framed. */
	struct txp_conn *conn;
	uint64_t conn_seq; /* position of the line on its connection */
	uint64_t id;       /* daemon-wide sequence number */
	uint32_t shard;    /* fraud/compliance shard: a hash of customer_key */
	char *line;        /* the raw line (NUL-terminated, owned); wiped
	                        * and dropped by validation once parsed, since
	                        * it may hold a card number */
	uint32_t line_len;
	bool line_in_txn;    /* line is in this allocation (txp_txn_new_line) */
	int64_t received_ms; /* wall clock, Unix ms */
	uint64_t t_received; /* monotonic ns, for stage latencies */
	uint64_t t_validated;
	uint64_t t_fraud;
	uint64_t t_compliance;

	/* Outcome. */
	enum txp_status status;
	struct txp_error error;
	int risk_score; /* 0-100, valid when scored */
	bool scored;
	uint8_t n_reasons;
	struct txp_reason reasons[TXP_MAX_REASONS];
	uint32_t alerts;             /* TXP_ALERT_* bits, set by the stages */
	uint8_t fraud_severity;      /* enum txp_severity of the fraud alert */
	uint8_t compliance_severity; /* enum txp_severity of the compliance alert */
	uint32_t compliance_flags;   /* TXP_COMPLIANCE_* bits, for the record */

	/* Derived by the rule stages (fraud converts, compliance reuses). */
	bool amount_usd_known; /* the currency had a configured USD rate */
	int64_t amount_usd;    /* the amount in USD minor units (cents) */
	/* GDPR: keyed BLAKE2b pseudonyms (hex) of personal identifiers, for
	 * storage and publication; empty when not configured or not given. */
	char customer_pseud[TXP_TOKEN_HEX + 1];
	/* The key fraud and compliance keep a customer's history under: the
	 * customer_id pseudonym, computed before the fraud stage whatever
	 * [compliance] pseudonymise says, so the journal can hold it and a
	 * restart can rebuild the windows without the raw id.  Empty when the
	 * line was rejected. */
	char customer_key[TXP_TOKEN_HEX + 1];
	/* [fleet] on: the key merchants' history is kept under, a keyed
	 * pseudonym of merchant_id, so every host of the fleet keys a
	 * merchant alike without the raw id in the shared state; empty
	 * otherwise (merchant_id keys it, as on a single host). */
	char merchant_key[TXP_TOKEN_HEX + 1];
	/* Not a transaction: another fleet host's decided one, carried
	 * through the stages only to update their state (fleet.h). */
	bool fleet_apply;
	char ip_pseud[TXP_TOKEN_HEX + 1];
	char device_pseud[TXP_TOKEN_HEX + 1];
	int64_t expires_at; /* retention TTL, Unix seconds (0: unset) */

	/* Parsed fields, set by validation.  Strings are NUL-terminated. */
	bool has_id; /* transaction_id was a valid string */
	/* PCI DSS: a transaction_id holding a card number is replaced, by
	 * validation, with its token (TXP_ID_TOKEN_PREFIX and the keyed
	 * BLAKE2b of the whole id in 26 base32 characters, TXP_ID_TOKEN_LEN
	 * in all): the identity everywhere after that
	 * (duplicates, journal, DynamoDB key, replies, logs).  Masking it
	 * instead merged every such id into one. */
	bool id_tokenised;
	char transaction_id[TXP_ID_MAX + 1];
	int64_t amount;   /* integer minor units of `currency` */
	char currency[4]; /* ISO 4217 alpha code */
	uint8_t currency_exponent;
	char merchant_id[TXP_ID_MAX + 1];
	char customer_id[TXP_ID_MAX + 1];
	char merchant_country[3]; /* ISO 3166-1 alpha-2 */
	char customer_country[3];
	bool has_timestamp;
	int64_t timestamp_ms; /* the producer's event time, Unix ms */
	bool has_card;
	char card_bin[7]; /* first six digits */
	char card_last4[5];
	char card_token[TXP_TOKEN_HEX + 1]; /* keyed BLAKE2b of the PAN */
	char merchant_category[5];          /* ISO 18245 MCC, four digits, or empty */
	enum txp_channel channel;
	char ip_address[TXP_IP_MAX + 1];
	char device_id[TXP_DEVICE_ID_MAX + 1];
	enum txp_kyc kyc;
	/* Party names, raw (personal data): screened by the compliance stage,
	 * then wiped there, whatever the outcome; only name_pseud (keyed
	 * pseudonyms of their normalised form) and the hit below remain. */
	char names[TXP_NAME_FIELDS][TXP_NAME_MAX + 1];
	char name_pseud[TXP_NAME_FIELDS][TXP_TOKEN_HEX + 1];
	/* A sanctions name hit: the field (1 + index into the name fields,
	 * 0: none), the list's label, the entry's identifier, the score in
	 * thousandths. */
	uint8_t name_hit_field;
	uint16_t name_hit_score;
	char name_hit_list[TXP_NAME_LIST_MAX + 1];
	char name_hit_entry[TXP_NAME_ENTRY_MAX + 1];

	/* Durability, on the loop thread.  journal_seq is the sequence number
	 * of its ACCEPTED journal record (0: not journaled); while `held` is
	 * set its reply waits in the connection's window (txp_server_release).
	 * `duplicate`: the transaction_id was decided recently, so the reply is
	 * the earlier decision's and nothing is scored, journaled or stored. */
	uint64_t journal_seq;
	bool held;
	bool duplicate;
	/* The validation stage's duplicate check is final: the stages ran
	 * inline with nothing else in flight (set by the pipeline), so no
	 * decision was remembered between that check and this transaction's
	 * completion, and txp_ack_completed() need not look again for one
	 * made while it was in flight. */
	bool dedup_final;
	/* What a resubmission must repeat to be a duplicate (dedup.h): a keyed
	 * hash of the amount, currency, parties and countries, computed by the
	 * validation stage; all zero when unknown (records from before it). */
	uint8_t fingerprint[TXP_FINGERPRINT_BYTES];
	/* The rules that decided it (txp_rules_version(), stages.h): a short
	 * hash of the deciding configuration and list files, and when they
	 * were loaded (wall clock, Unix ms).  Set by the last stage; empty
	 * and 0 when unknown (records from before it). */
	char rules_version[TXP_RULES_VERSION_SIZE];
	int64_t rules_loaded_ms;

	/* Output, built by the last stage on its worker thread so the loop
	 * thread only copies bytes.  Owned; freed with the transaction. */
	char *reply; /* one JSON line including the '\n' */
	uint32_t reply_len;
	char *item; /* the persisted record (JSON), or NULL */
	uint32_t item_len;
	/* The SNS alert messages (JSON), one per raised alert kind, indexed
	 * by TXP_ALERT_KIND_FRAUD / _COMPLIANCE; NULL when not raised. */
	char *alert[2];
	uint32_t alert_len[2];
};

#define TXP_ALERT_FRAUD (1u << 0)
#define TXP_ALERT_COMPLIANCE (1u << 1)
/* Indices of struct txp_txn's alert[]: bit TXP_ALERT_x is 1u << TXP_ALERT_KIND_x. */
#define TXP_ALERT_KIND_FRAUD 0
#define TXP_ALERT_KIND_COMPLIANCE 1
#define TXP_ALERT_KINDS 2

/* Compliance findings, kept on the record whatever the decision. */
#define TXP_COMPLIANCE_AML_REPORT (1u << 0) /* at or above the reporting threshold */
#define TXP_COMPLIANCE_STRUCTURING (1u << 1)
#define TXP_COMPLIANCE_SANCTIONS (1u << 2) /* country or list match */
#define TXP_COMPLIANCE_KYC (1u << 3)
#define TXP_COMPLIANCE_PAN_MASKED (1u << 4)   /* a card number was masked in a field */
#define TXP_COMPLIANCE_RATE_UNKNOWN (1u << 5) /* no USD rate: thresholds not evaluable */

/* "customer_name", "counterparty_name", "beneficiary_name". */
extern const char *const txp_name_fields[TXP_NAME_FIELDS];

/* Allocates a zeroed transaction.  Free with txp_txn_free(). */
struct txp_txn *txp_txn_new(void);

/* Allocates a zeroed transaction holding a copy of `line` (len bytes, then
 * a NUL) in the same allocation, or NULL.  One allocation instead of two,
 * and the line's memory goes back with the transaction, by the thread that
 * frees it (the loop), not by the validation thread that drops the line:
 * memory freed by another thread than the one that allocated it costs the
 * allocator's lock, which both threads then contend for. */
struct txp_txn *txp_txn_new_line(const char *line, size_t len);

/* Wipes the raw line and forgets it (t->line NULL, t->line_len 0); its
 * memory is freed here only when it was allocated on its own. */
void txp_txn_drop_line(struct txp_txn *t);

/* Wipes and frees the line, reply and item, wipes the party names, then
 * frees the transaction.
 * NULL is safe. */
void txp_txn_free(struct txp_txn *t);

/* Wipes and frees what t holds, as txp_txn_free() does, and leaves t
 * zeroed as txp_txn_new() returns it, for reuse by its owner. */
void txp_txn_clear(struct txp_txn *t);

/* Records a reason, ignoring it when the array is full.  `code` must be a
 * string with static storage duration. */
void txp_txn_add_reason(struct txp_txn *t, const char *code, int points);

/* Marks the transaction rejected (validation) or error (processing) and
 * fills its error.  `field` may be NULL.  Formats `fmt` like printf. */
void txp_txn_fail(struct txp_txn *t, enum txp_status status, const char *code, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/*
 * Raises t->status to `s` when `s` is more severe (declined beats review
 * beats approved).  Leaves rejected and error transactions alone.
 */
void txp_txn_escalate(struct txp_txn *t, enum txp_status s);

/* Raises the alert bit `alert` (TXP_ALERT_*) with severity `sev`, keeping the
 * higher severity already set.  TXP_SEVERITY_NONE raises nothing. */
void txp_txn_alert(struct txp_txn *t, uint32_t alert, enum txp_severity sev);

/* "approved", "review", ... */
const char *txp_status_name(enum txp_status s);
const char *txp_channel_name(enum txp_channel c);
const char *txp_kyc_name(enum txp_kyc k);
/* "none", "low", "medium", "high", "critical" */
const char *txp_severity_name(enum txp_severity s);

struct txp_sbuf;
/* Appends a score in thousandths as a JSON number ("0.953"). */
void txp_txn_score_json(struct txp_sbuf *b, unsigned milli);

/*
 * Builds t->reply: the protocol's reply line for the transaction's current
 * outcome, ending in '\n'.  Returns 0, or -ENOMEM.
 */
int txp_txn_build_reply(struct txp_txn *t);

/* Appends ,"risk_score":N (when scored) and ,"reasons":["code",...] to b:
 * what the reply and an alert message say about why, in one spelling. */
struct txp_sbuf;
void txp_txn_json_reasons(struct txp_sbuf *b, const struct txp_txn *t);

/* Appends ,"sanctions_match":{"field","list","entry","score"} when a party
 * name matched a sanctions list (the entry, never the name). */
void txp_txn_json_sanctions_match(struct txp_sbuf *b, const struct txp_txn *t);

/*
 * Writes an error reply for a line that never became a transaction (line
 * too long, overloaded, shutting down) into a new malloc'd buffer.
 * Returns the buffer (caller frees) and its length in *len, or NULL.
 */
char *txp_reply_error(const char *code, const char *message, size_t *len);

#endif
