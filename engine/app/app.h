/* app.h - the daemon: wires the ring, Kafka, the Redis store, ingest, the
 *         detector and the API onto one libuv loop, and shuts them down in
 *         order on SIGTERM/SIGINT.
 * Threads: the main thread, which becomes the loop thread.
 * Ownership: everything it creates it frees before returning.
 * Errors: eng_app_run() returns the process exit status: 0 after a clean
 *   shutdown, 1 when start-up failed (logged). */
#ifndef ENG_APP_H
#define ENG_APP_H

#include "config/config.h"

/* Runs tsmd until SIGTERM or SIGINT. Returns the exit status. */
int eng_app_run(const cfg_t *cfg);

#endif
