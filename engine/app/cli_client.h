/* cli_client.h - `tsmd client add|remove|list` and auth.bootstrap_client:
 *                API clients in P clients (id -> argon2id hash of the secret).
 * Threads: the main thread, before the loop runs (synchronous hiredis, which
 *   is fine in a command-line tool and at start-up).
 * Ownership: nothing is kept; every connection is closed before returning.
 * Errors: eng_cli_client() returns the process exit status (0 done, 1 Redis
 *   failed or the client exists / is missing, 2 usage) after writing one line
 *   to stderr; eng_auth_bootstrap() returns 0 or -1 after logging why. */
#ifndef ENG_CLI_CLIENT_H
#define ENG_CLI_CLIENT_H

#include "config/config.h"

/* Runs `tsmd client ...`; argv holds what follows "client" ("add", "ID",
 * "--secret", "S"). add prints the secret (generated when not given) alone on
 * one line of stdout; remove also revokes the client's live tokens; list
 * prints the ids, sorted, one per line. Returns the exit status. */
int eng_cli_client(const cfg_t *cfg, int argc, char **argv);

/* Creates auth.bootstrap_client ("id:secret") when it is set and the id does
 * not exist yet; an existing client is left as it is. Returns 0 or -1. */
int eng_auth_bootstrap(const cfg_t *cfg);

#endif
