/* journal.h: the write-ahead journal of decided transactions: on-disk format, group-commit writer, replay. */
#ifndef TXPIPE_JOURNAL_H
#define TXPIPE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct txp_config;

/*
 * Why a journal: a transaction acknowledged to its producer must survive
 * kill -9, an AWS outage of an hour and a full disk.  The loop appends the
 * decided, redacted record (never the raw line: it may hold a card number)
 * as an ACCEPTED record and, once DynamoDB stored it or it was dead-lettered,
 * a DELIVERED record naming its sequence number.  A restart replays every
 * ACCEPTED record without a DELIVERED one.
 *
 * On disk: <dir>/journal-<first seq, 16 lower-case hex digits>.seg, each a
 * run of records with contiguous sequence numbers starting at the one in
 * the name.  A record is a 24-byte header, all integers little-endian:
 *
 *   offset  0  u32  magic TXP_JOURNAL_MAGIC ("TXPJ")
 *   offset  4  u16  type (enum txp_journal_type)
 *   offset  6  u16  flags (none defined: must be 0)
 *   offset  8  u32  payload length, at most TXP_JOURNAL_MAX_PAYLOAD
 *   offset 12  u32  CRC-32C over header bytes 0-11 and 16-23, then payload
 *   offset 16  u64  sequence number (>= 1)
 *
 * then the payload.  Records are not padded.
 */
#define TXP_JOURNAL_MAGIC UINT32_C(0x4A505854)
#define TXP_JOURNAL_HEADER_BYTES 24
#define TXP_JOURNAL_MAX_PAYLOAD (UINT32_C(16) << 20)

enum txp_journal_type {
	TXP_JOURNAL_ACCEPTED = 1,  /* payload: struct txp_journal_accepted, encoded */
	TXP_JOURNAL_DELIVERED = 2, /* payload: one or more u64 sequence numbers */
};

/* Why a scan stopped; TXP_JOURNAL_OK means it reached the end cleanly. */
enum txp_journal_damage {
	TXP_JOURNAL_OK = 0,
	TXP_JOURNAL_TRUNCATED, /* header or payload runs past the end */
	TXP_JOURNAL_BAD_MAGIC,
	TXP_JOURNAL_BAD_LENGTH, /* payload length over TXP_JOURNAL_MAX_PAYLOAD */
	TXP_JOURNAL_BAD_CHECKSUM,
	TXP_JOURNAL_BAD_TYPE,    /* unknown type or flags set, checksum valid */
	TXP_JOURNAL_BAD_SEQ,     /* not the expected next sequence number */
	TXP_JOURNAL_BAD_PAYLOAD, /* checksum valid but the payload does not decode */
};

/* "ok", "truncated", "bad_magic", ...: for logs. */
const char *txp_journal_damage_name(enum txp_journal_damage d);

/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI uses it
 * (RFC 3720 section 12.1, test vectors in appendix B.4).  Pass 0 as `crc`
 * to start; pass the previous result to continue over more bytes.
 */
uint32_t txp_crc32c(uint32_t crc, const void *buf, size_t len);

/* The same with table lookups only; txp_crc32c() uses the CPU's CRC32
 * instruction where there is one (x86-64 with SSE4.2).  For tests. */
uint32_t txp_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* One decoded record; `payload` points into the buffer it was decoded from. */
struct txp_journal_record {
	uint16_t type;
	uint16_t flags;
	uint64_t seq;
	const uint8_t *payload;
	uint32_t len;
};

/* Bytes a record with a `len`-byte payload takes. */
static inline size_t txp_journal_record_size(size_t len)
{
	return TXP_JOURNAL_HEADER_BYTES + len;
}

/*
 * Writes a record into `buf`, which must hold txp_journal_record_size(len)
 * bytes.  `payload` may already sit at buf + TXP_JOURNAL_HEADER_BYTES.
 * Pure; does not check the type or the payload.
 */
void txp_journal_record_encode(uint8_t *buf, enum txp_journal_type type, uint64_t seq, const void *payload,
                               uint32_t len);

/*
 * Decodes the record at the start of buf[0, avail): checks magic, length,
 * that it is complete, the checksum, then type, flags and payload syntax.
 * On TXP_JOURNAL_OK fills *rec (pointing into `buf`); otherwise *rec is
 * unspecified.
 */
enum txp_journal_damage txp_journal_record_decode(const uint8_t *buf, size_t avail, struct txp_journal_record *rec);

/* Result of scanning a segment buffer. */
struct txp_journal_scan_result {
	size_t valid_bytes;           /* end of the last valid record: what follows is a torn tail */
	size_t records;               /* valid records */
	uint64_t last_seq;            /* the last one's sequence number, 0 if none */
	enum txp_journal_damage stop; /* why the scan stopped before the end, TXP_JOURNAL_OK if it did not */
	int cb_error;                 /* nonzero when the callback stopped it */
	/* Damage in the middle, skipped by resynchronising on the next valid record. */
	size_t holes;                        /* damaged ranges skipped */
	size_t first_hole;                   /* offset of the first, when holes > 0 */
	enum txp_journal_damage hole_reason; /* why the first one's record was rejected */
	size_t skipped_bytes;                /* bytes of all of them */
	uint64_t skipped_seqs;               /* sequence numbers missing across them: records lost */
};

/* Called for each valid record in order, with its offset in the buffer.
 * Returning nonzero stops the scan (reported in cb_error). */
typedef int (*txp_journal_scan_fn)(void *arg, const struct txp_journal_record *rec, size_t offset);

/*
 * Walks buf[0, len) record by record.  Records must carry increasing
 * sequence numbers from first_seq on, consecutive where nothing is damaged,
 * and stay below end_seq (UINT64_MAX: no bound).  A record that is bad (see
 * enum txp_journal_damage) or out of sequence is damage: when a trustworthy
 * record follows it (valid checksum, a sequence number that fits the bytes
 * skipped), the scan resumes there and counts a hole; when none does, the
 * scan stops: a torn tail, everything from valid_bytes on.  A tail of
 * zero bytes alone is no damage (stop stays TXP_JOURNAL_OK): it is the
 * unused part of a preallocated segment.  `fn` may be NULL.  Pure.
 */
void txp_journal_scan(const uint8_t *buf, size_t len, uint64_t first_seq, uint64_t end_seq, txp_journal_scan_fn fn,
                      void *arg, struct txp_journal_scan_result *out);

/*
 * The ACCEPTED payload: what a restart needs to redeliver a decided
 * transaction and to rebuild fraud velocity windows, nothing more.  Strings
 * are pointers with lengths; after txp_journal_accepted_decode() each is
 * also NUL-terminated inside the payload (never NULL: empty strings are "").
 * No field may hold a raw card number or a raw personal identifier.
 */
struct txp_journal_accepted {
	int64_t received_ms; /* wall clock the line arrived, Unix ms, 0 to TXP_JOURNAL_MAX_WALL_MS */
	int64_t amount;      /* minor units of `currency` */
	bool amount_usd_known;
	int64_t amount_usd;       /* USD cents, when amount_usd_known */
	char currency[4];         /* ISO 4217, NUL-terminated */
	const char *customer_key; /* pseudonymised customer id (keyed BLAKE2b hex) */
	uint32_t customer_key_len;
	const char *merchant_id;
	uint32_t merchant_id_len;
	const char *card_token; /* keyed BLAKE2b card token, or "" */
	uint32_t card_token_len;
	/* The rest of the decided transaction, opaque here: see record.h
	 * (the stored item, alerts and reply are rebuilt from it). */
	const uint8_t *record;
	uint32_t record_len;
};

/* The latest wall clock a record may carry: 9999-12-31T23:59:59.999Z, as
 * far as RFC 3339 goes. */
#define TXP_JOURNAL_MAX_WALL_MS INT64_C(253402300799999)

/* Bytes txp_journal_accepted_encode() writes for `a`, or 0 when received_ms
 * is out of range, a string (not the record: it is bytes) holds a NUL or
 * the total is over TXP_JOURNAL_MAX_PAYLOAD. */
size_t txp_journal_accepted_size(const struct txp_journal_accepted *a);

/* Encodes `a` into buf[0, cap).  Returns the length written, or 0 when it
 * does not fit or txp_journal_accepted_size() is 0.  NULL strings with
 * length 0 are written as empty.  Pure. */
size_t txp_journal_accepted_encode(const struct txp_journal_accepted *a, uint8_t *buf, size_t cap);

/* Decodes an ACCEPTED payload; the strings and the record point into
 * `payload`.  Returns 0 or -EINVAL (unknown version, lengths that do not
 * add up, a missing NUL, received_ms out of range). */
int txp_journal_accepted_decode(const uint8_t *payload, size_t len, struct txp_journal_accepted *a);

/* ---- The journal: one directory, one writer thread, used from one libuv loop. ---- */

struct txp_journal;

/* Called on the loop thread for each ACCEPTED record replayed at open, in
 * sequence order.  `rec` and its strings live only during the call. */
typedef void (*txp_journal_replay_fn)(void *arg, uint64_t seq, const struct txp_journal_accepted *rec);

/* Zero in segment_bytes, max_bytes or commit_bytes picks the [journal]
 * default (64M, 4G, 256k). */
struct txp_journal_options {
	/* A record that would take a segment past segment_bytes starts a new
	 * one (a record larger than that gets a segment of its own). */
	uint64_t segment_bytes;
	/* txp_journal_full() turns true above this many bytes (see there). */
	uint64_t max_bytes;
	/* Group commit: the writer writes and fdatasync()s what is queued once
	 * commit_bytes are queued or commit_interval_ms after it took the
	 * previous batch, whichever comes first (0 ms: as soon as it is free).
	 * So a record after a quiet spell is synced at once, under load there
	 * is at most one sync per interval, and no record waits longer. */
	uint64_t commit_bytes;
	uint64_t commit_interval_ms;
	/* After a write or sync error, how long the writer waits before it
	 * tries again on a fresh segment; 0 means 1000 ms. */
	uint64_t retry_interval_ms;
	/* Headroom: below this many bytes free on the journal's file system
	 * txp_journal_full() turns true, and it turns false again at twice
	 * this; while it is low, retained segments are not kept and a fully
	 * delivered active segment is closed so it can be deleted.  0: no
	 * check. */
	uint64_t reserve_bytes;
	/* Fully delivered segments are kept this long after their last write,
	 * so a restart can rebuild velocity windows; ignored while the journal
	 * holds more than max_bytes / 2.  0: delete at once. */
	uint64_t retain_ms;
	/* A background thread writes the next segment file full of zeros
	 * (segment_bytes) and syncs it before it is needed; the writer renames
	 * it into place, so commits overwrite allocated blocks and fdatasync
	 * has no file size to commit (ext4: no journal transaction per sync).
	 * Until one is ready, and while space is low, segments grow as without
	 * it.  A preallocated segment is cut to its records when it is full or
	 * closed; after a crash its zero tail is cut at open. */
	bool preallocate;

	/* Replay at open.  on_recent gets every ACCEPTED record still on disk
	 * with received_ms >= now_ms - recent_ms, delivered or not (to rebuild
	 * velocity windows); on_undelivered every ACCEPTED record without a
	 * DELIVERED record (to redeliver).  For each record on_recent comes
	 * first.  Either may be NULL.  Neither may call into the journal. */
	int64_t now_ms;
	uint64_t recent_ms;
	txp_journal_replay_fn on_recent;
	txp_journal_replay_fn on_undelivered;
	void *replay_arg;
};

/* Acknowledgement policy, [journal] ack: when the daemon replies. */
enum txp_journal_ack {
	TXP_JOURNAL_ACK_JOURNALED = 0, /* once the ACCEPTED record is durable */
	TXP_JOURNAL_ACK_STORED,        /* once DynamoDB stored it */
	TXP_JOURNAL_ACK_DECIDED,       /* at once: a crash may lose the last commit interval */
};

/* Fills `o` from cfg->journal; replay fields are zeroed (the caller sets
 * them), retain_ms is 0 (the caller sets it from the velocity windows when
 * [journal] velocity_rebuild is on). */
void txp_journal_options_from_config(struct txp_journal_options *o, const struct txp_config *cfg);

/*
 * Opens (creating if missing, mode 0700) the journal in `dir` on the loop
 * thread, before the daemon serves anything; blocks for the scan.
 *
 * Takes an exclusive lock on <dir>/journal.lock (-EBUSY when another
 * process holds it).  Scans every segment in order, recomputing which
 * ACCEPTED records lack a DELIVERED record.  Damage with valid records
 * after it is skipped (see txp_journal_scan()): the segment is copied as
 * found to *.seg.corrupt first, the loss logged (journal_segment_damaged)
 * and counted (skipped_records, damaged_segments); the segment itself is
 * left as it is.  A torn tail of the last segment is truncated (logged at
 * warning with the offset and the bytes cut).  An earlier segment whose
 * end is damaged keeps its valid part: the file is kept as *.seg.corrupt
 * for inspection, the valid part rewritten as the segment, and that is
 * logged at err.  Then calls the replay callbacks in `opt` and starts the writer
 * thread.  Sequence numbers continue after the highest ever written.
 *
 * Returns 0 with *out set, or a negative errno with a message in `err`.
 * Close with txp_journal_close().
 */
int txp_journal_open(struct txp_journal **out, uv_loop_t *loop, const char *dir, const struct txp_journal_options *opt,
                     char *err, size_t errlen);

/*
 * Queues a record (loop thread; the writer copies nothing back).  The
 * payload is copied and checked: ACCEPTED must decode, DELIVERED must be a
 * non-empty run of little-endian u64 (txp_journal_deliver() builds one).
 * Sets *seq_out (may be NULL) to the record's sequence
 * number.  Never blocks on I/O.  Returns 0, -EINVAL, -ENOMEM, or -EPIPE
 * after close started.  It does not refuse when txp_journal_full(): check
 * that before admitting a transaction; those already in flight still fit.
 */
int txp_journal_append(struct txp_journal *j, enum txp_journal_type type, const void *payload, size_t len,
                       uint64_t *seq_out);

/* Encodes and queues an ACCEPTED record in one step (no extra copy). */
int txp_journal_append_accepted(struct txp_journal *j, const struct txp_journal_accepted *a, uint64_t *seq_out);

/* Queues one DELIVERED record naming `n` (>= 1) sequence numbers: stored or
 * dead-lettered.  Naming one twice, or one that is not ACCEPTED, is
 * harmless.  Returns as txp_journal_append(). */
int txp_journal_deliver(struct txp_journal *j, const uint64_t *seqs, size_t n, uint64_t *seq_out);

/*
 * Called on the loop thread when records up to and including `durable_seq`
 * are on stable storage (fdatasync returned 0 after they were written), or
 * were reported dropped (txp_journal_on_dropped()).
 * Calls come in increasing order and coalesce.  Replaces any earlier
 * callback; NULL removes it.
 */
typedef void (*txp_journal_durable_fn)(void *arg, uint64_t durable_seq);
void txp_journal_on_durable(struct txp_journal *j, txp_journal_durable_fn cb, void *arg);

/*
 * Called on the loop thread with a negative errno when the writer fails to
 * write, sync or create a segment (-ENOSPC, -EROFS, -EIO, ...), and with 0
 * when it has recovered.  On a failure the ACCEPTED records not yet durable
 * (the failed ones and all queued behind them) are dropped and reported
 * (txp_journal_on_dropped()); the DELIVERED records are kept in memory,
 * settled there at once (so the segments they empty are deleted and a full
 * disk frees itself) and rewritten to a new segment every
 * retry_interval_ms.  While failed txp_journal_full() is true.
 */
typedef void (*txp_journal_error_fn)(void *arg, int err);
void txp_journal_on_error(struct txp_journal *j, txp_journal_error_fn cb, void *arg);

/*
 * Called on the loop thread, before the durable callback that passes them,
 * for each range of sequence numbers whose ACCEPTED records were dropped
 * after a failed write: none of those (not durable yet) ever will be.  The
 * range may also cover DELIVERED records and already durable ones.
 * Replaces any earlier callback; NULL removes it.
 */
typedef void (*txp_journal_dropped_fn)(void *arg, uint64_t first_seq, uint64_t last_seq);
void txp_journal_on_dropped(struct txp_journal *j, txp_journal_dropped_fn cb, void *arg);

/*
 * True while new transactions must be refused ("overloaded"): the live
 * segments on disk plus the records queued in memory pass max_bytes, the
 * file system is low on space (reserve_bytes), or the writer is failing.
 * Any thread.
 */
bool txp_journal_full(struct txp_journal *j);

struct txp_journal_stats {
	uint64_t next_seq;     /* the sequence number the next append gets */
	uint64_t durable_seq;  /* every record up to this one is durable */
	uint64_t disk_bytes;   /* live segments */
	uint64_t queued_bytes; /* appended, not yet durable */
	uint64_t segments;     /* live segment files */
	uint64_t undelivered;  /* durable ACCEPTED records without a DELIVERED (durable or being written) */
	uint64_t syncs;        /* successful fdatasync calls */
	uint64_t write_errors;
	uint64_t dropped_records;  /* ACCEPTED records dropped after failed writes */
	uint64_t skipped_records;  /* records lost to damage found at open */
	uint64_t damaged_segments; /* segments with damage found at open (each kept as *.seg.corrupt) */
	bool low_space;            /* below reserve_bytes free */
	int error;                 /* the writer's current error, 0 when healthy */
};
/* Any thread.  segments and undelivered are as of the last commit. */
void txp_journal_stats(struct txp_journal *j, struct txp_journal_stats *s);

/*
 * Stops accepting appends, lets the writer commit everything queued
 * (one more attempt if it is failing; what still fails is logged at err as
 * lost, and was never reported durable), joins it, reports the final
 * durable sequence number through the callback, and closes the files.
 * The memory is freed from the uv_close() callback: run the loop after
 * this.  NULL is safe.  Loop thread.
 */
void txp_journal_close(struct txp_journal *j);

/*
 * The journal directory's id: 32 lowercase hex digits (128 random bits)
 * in the file "journal.id", written on first use (the directory is created
 * too, 0700) and never changed, so the journal keeps its name when its
 * disk moves to another host (the fleet's lease on it is keyed by it).
 * Fills out (NUL-terminated) and returns 0, or a negative errno with the
 * reason in err (a "journal.id" that is not an id is -EINVAL).  Safe
 * against a concurrent first use: both get the id that was linked first.
 */
#define TXP_JOURNAL_ID_HEX 32
int txp_journal_id(const char *dir, char out[TXP_JOURNAL_ID_HEX + 1], char *err, size_t errlen);

#endif
