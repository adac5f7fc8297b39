/* batch.h: what the batch APIs of SNS and SQS share: entry ids and the failures reported per entry. */
#ifndef TXPIPE_AWS_BATCH_H
#define TXPIPE_AWS_BATCH_H

#include <stdbool.h>
#include <stddef.h>

/* An entry a batch call (PublishBatch, SendMessageBatch) reported as failed. */
struct txp_batch_failure {
	unsigned index;    /* position in the request */
	bool sender_fault; /* true: the entry itself is bad, retrying cannot help */
	char code[64];
	char message[256];
};

/*
 * Reads a batch entry id of the form the body builders give ("<prefix><i>":
 * "e0" for SNS, "m0" for SQS; at most three digits, a batch holds ten) into
 * *index.  Returns false for any other id, which the caller then ignores.
 */
bool txp_batch_entry_index(const char *id, size_t id_len, char prefix, unsigned *index);

#endif
