/* batch.c: what the batch APIs of SNS and SQS share: entry ids and the failures reported per entry. */
#include "txpipe/aws/batch.h"

bool txp_batch_entry_index(const char *id, size_t id_len, char prefix, unsigned *index)
{
	unsigned v = 0;

	if (id == NULL || id_len < 2 || id_len > 4 || id[0] != prefix)
		return false;
	for (size_t i = 1; i < id_len; i++) {
		if (id[i] < '0' || id[i] > '9')
			return false;
		v = v * 10 + (unsigned)(id[i] - '0');
	}
	*index = v;
	return true;
}
