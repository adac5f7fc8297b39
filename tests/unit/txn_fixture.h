/* txn_fixture.h: a decided transaction with every common field set, shared by the unit tests of its outputs. */
#ifndef TXPIPE_TEST_TXN_FIXTURE_H
#define TXPIPE_TEST_TXN_FIXTURE_H

#include "txpipe/txn.h"

/* A REVIEW decision as the stages leave it: two scored reasons, an amount
 * beyond 2^53, a card (BIN, last four, token), pseudonyms, a fraud alert,
 * stage times 15 us, 40 us and 2.5 ms apart.  The raw customer_id,
 * ip_address and device_id are set too, so tests can check they never
 * leave.  Free with txp_txn_free(). */
struct txp_txn *txp_test_decided(void);

#endif
