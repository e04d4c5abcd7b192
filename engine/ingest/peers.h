/* peers.h - what the other instances of the consumer group tell this one,
 *           through Redis pub/sub (docs/SCALING.md):
 *             P alerts   gateway window opens and closes, decided by the
 *                        gateway's owner: held-back sensors here follow them;
 *             P relay    "TUID FROM TO" lines: gateways seen through
 *                        partitions held elsewhere, for the gateways owned
 *                        here, and "@ TOPIC PARTITION ETIME STATE" lines: how
 *                        far the sender has consumed its partitions;
 *             P control  installation status and group changes made through
 *                        any instance's API.
 *           Messages this instance published itself arrive too; each handler
 *           is idempotent, so they change nothing.
 * Threads: loop thread only.
 * Ownership: owns its subscriber connection; borrows ingest.
 * Errors: a lost connection is re-made after a second; what was published
 *   meanwhile is missed (restore on assignment reads the durable state). */
#ifndef ENG_PEERS_H
#define ENG_PEERS_H

#include "config/config.h"
#include "engine/ingest/ingest.h"

#include <uv.h>

typedef struct eng_peers_s eng_peers_t;

eng_peers_t *eng_peers_new(uv_loop_t *loop, const cfg_t *cfg, eng_ingest_t *ingest);
/* Connects and subscribes (and keeps reconnecting). Returns 0. */
int eng_peers_start(eng_peers_t *peers);
/* Closes the connection and the timer; frees once the loop ran. */
void eng_peers_stop(eng_peers_t *peers);

/* Parses "YYYY-MM-DDTHH:MM:SS" (UTC); returns 0 and sets *t, or -1. */
int eng_peers_parse_time(const char *s, uint32_t *t);

#endif
