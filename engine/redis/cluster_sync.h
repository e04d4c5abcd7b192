/* cluster_sync.h - blocking commands over a Redis Cluster (or one Redis), for
 *                  the command line (`tsmd client ...`), start-up and the
 *                  fault checker: synchronous hiredis with timeouts, one
 *                  connection per master opened when first needed, each
 *                  command sent to the master of its key's slot, MOVED
 *                  (map re-read), ASK (ASKING, once), TRYAGAIN and
 *                  CLUSTERDOWN (retried for up to 5 s) followed.
 * Threads: one thread at a time per client; never the loop thread (it blocks).
 * Ownership: the client owns its connections; replies belong to the caller
 *   (freeReplyObject).
 * Errors: eng_csync_connect returns NULL with the reason in err; commands
 *   return NULL when no node answered (the reason in eng_csync_error). */
#ifndef ENG_CLUSTER_SYNC_H
#define ENG_CLUSTER_SYNC_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct eng_csync_s eng_csync_t;

typedef struct eng_csync_opts_s {
    const char *host; /* the seed node */
    int port;
    const char *password; /* AUTH when not empty */
    int db;               /* SELECT when cluster is false */
    bool cluster;
    const char *seeds; /* cluster: "host:port,..." tried in turn when host does not answer */
    int timeout_ms;    /* connect and reply timeout of each connection */
} eng_csync_opts_t;

/* Connects to the seed (and reads the slot map). Returns NULL after writing
 * why into err (errcap bytes). */
eng_csync_t *eng_csync_connect(const eng_csync_opts_t *opts, char *err, size_t errcap);
void eng_csync_free(eng_csync_t *csync);

/* Runs one command (printf-style, as redisCommand) on the master of its
 * key's slot, keyless ones on the seed. Returns the final reply, or NULL. */
redisReply *eng_csync_command(eng_csync_t *csync, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
redisReply *eng_csync_argv(eng_csync_t *csync, int argc, const char **argv, const size_t *argvlen);

/* Returns the number of masters (1 for one Redis); a SCAN visits each. */
int eng_csync_masters(const eng_csync_t *csync);
/* Runs a command on master i (0 <= i < eng_csync_masters). Returns the reply or NULL. */
redisReply *eng_csync_on_master(eng_csync_t *csync, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns why the last command failed (static or the client's buffer). */
const char *eng_csync_error(const eng_csync_t *csync);

#endif
