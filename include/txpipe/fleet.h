/* fleet.h: several txpiped hosts screening as one system, with DynamoDB as the shared state. */
#ifndef TXPIPE_FLEET_H
#define TXPIPE_FLEET_H

#include <stddef.h>

struct txp_config;

/*
 * The fleet table ([fleet] table), shared by every fleet module: one string
 * hash key and no sort key; items are told apart by the key's prefix
 * ("feed|...", "members": shared screening state; "lease|<journal id>":
 * journal leases).  Every item carries the TTL attribute, epoch seconds, so
 * what dead hosts leave behind disappears by itself.
 */
#define TXP_FLEET_KEY_ATTRIBUTE "pk"
#define TXP_FLEET_TTL_ATTRIBUTE "expires"

/* Longest instance id, without its NUL ([fleet] instance_id's bound). */
#define TXP_FLEET_INSTANCE_ID_MAX 64

/*
 * Whether `id` may name a host in the fleet: 1 to TXP_FLEET_INSTANCE_ID_MAX
 * bytes of letters, digits, '-', '_' and '.'.  It becomes part of DynamoDB
 * attribute names and lease items, so nothing else is allowed.
 */
int txp_fleet_instance_id_valid(const char *id);

/*
 * This host's instance id: [fleet] instance_id when set; else, when [aws]
 * imds is on, the EC2 instance id read through IMDSv2 from [aws]
 * imds_endpoint (a session token, then meta-data/instance-id, one second
 * each at most: called once at start, before the loop runs); else the
 * hostname.  Writes it NUL-terminated into `out` (at least
 * TXP_FLEET_INSTANCE_ID_MAX + 1 bytes).  Returns 0, or -EINVAL with a
 * message in `err` when no valid id can be found (a configured id is
 * checked by txp_config_validate()).
 */
int txp_fleet_instance_id(const struct txp_config *cfg, char *out, size_t outlen, char *err, size_t errlen);

#endif
