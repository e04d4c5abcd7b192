/* app.h - the daemon: wires the ring, Kafka, the Redis store, ingest, the
 *         detector and the API onto one libuv loop, and shuts them down in
 *         order on SIGTERM/SIGINT; SIGHUP reads the settings again and applies
 *         the live ones (log.level, detector timeouts).
 * Threads: the main thread, which becomes the loop thread.
 * Ownership: everything it creates it frees before returning.
 * Errors: eng_app_run() returns the process exit status: 0 after a clean
 *   shutdown, 1 when start-up failed (logged). */
#ifndef ENG_APP_H
#define ENG_APP_H

#include "config/config.h"
#include "engine/app/reload.h"

/* Runs tsmd until SIGTERM or SIGINT; src (kept until it returns) tells
 * SIGHUP where to read the settings again. Returns the exit status. */
int eng_app_run(const cfg_t *cfg, const eng_reload_src_t *src);

#endif
