/* cluster_sync.c - blocking cluster commands; see cluster_sync.h. */
#include "engine/redis/cluster_sync.h"

#include "engine/redis/cluster_slot.h"
#include "engine/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS 100
#define RETRY_FOR_MS 5000

struct eng_csync_s {
    eng_csync_opts_t opts;
    eng_slotmap_t map;                         /* with cluster off: one node serving every slot */
    redisContext *conn[ENG_SLOTMAP_MAX_NODES]; /* by map node index */
    int masters[ENG_SLOTMAP_MAX_NODES], nmasters;
    char host[ENG_SLOT_HOST_MAX + 1];
    char err[256];
};

/* Opens (once) and returns the connection to node i, or NULL. */
static redisContext *node_conn(eng_csync_t *cs, int i)
{
    if (cs->conn[i] != NULL) return cs->conn[i];
    const eng_slot_node_t *n = &cs->map.nodes[i];
    struct timeval tv = {cs->opts.timeout_ms / 1000, (cs->opts.timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(n->host[0] ? n->host : cs->host, n->port, tv);
    if (c == NULL || c->err) {
        snprintf(cs->err, sizeof cs->err, "cannot connect to Redis at %s:%d: %s",
                 n->host[0] ? n->host : cs->host, n->port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = cs->opts.password[0] ? redisCommand(c, "AUTH %s", cs->opts.password) : NULL;
    bool bad = cs->opts.password[0] && (r == NULL || r->type == REDIS_REPLY_ERROR);
    freeReplyObject(r);
    if (!bad && !cs->opts.cluster && cs->opts.db != 0) {
        r = redisCommand(c, "SELECT %d", cs->opts.db);
        bad = r == NULL || r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    if (bad) {
        snprintf(cs->err, sizeof cs->err, "Redis at %s:%d refused AUTH or SELECT", c->tcp.host,
                 n->port);
        redisFree(c);
        return NULL;
    }
    return cs->conn[i] = c;
}

static void close_all(eng_csync_t *cs)
{
    for (int i = 0; i < ENG_SLOTMAP_MAX_NODES; i++) {
        redisFree(cs->conn[i]);
        cs->conn[i] = NULL;
    }
}

/* One node, the seed, serving every slot. */
static void map_single(eng_csync_t *cs)
{
    memset(&cs->map, 0, sizeof cs->map);
    snprintf(cs->map.nodes[0].host, sizeof cs->map.nodes[0].host, "%s", cs->opts.host);
    cs->map.nodes[0].port = cs->opts.port;
    cs->map.nodes[0].master = -1;
    cs->map.nnodes = 1;
    for (int s = 0; s < ENG_SLOTS; s++)
        cs->map.owner[s] = 0;
    cs->map.served = ENG_SLOTS;
}

/* Reads CLUSTER SLOTS from a node that answers (from is a connection to try
 * first, or NULL); the connections are reopened by the new map's indices.
 * Returns 0 or -1. */
static int map_read(eng_csync_t *cs, redisContext *from)
{
    redisReply *r = from ? redisCommand(from, "CLUSTER SLOTS") : NULL;
    for (int i = 0; (r == NULL || r->type != REDIS_REPLY_ARRAY) && i < cs->map.nnodes; i++) {
        freeReplyObject(r);
        redisContext *c = node_conn(cs, i);
        r = c ? redisCommand(c, "CLUSTER SLOTS") : NULL;
    }
    eng_slotmap_t *map = eng_malloc(sizeof *map);
    int rc = eng_slotmap_parse(map, r);
    freeReplyObject(r);
    if (rc == 0 && map->served > 0) {
        close_all(cs);
        cs->map = *map;
        cs->nmasters = 0;
        for (int i = 0; i < cs->map.nnodes; i++)
            if (cs->map.nodes[i].master < 0) cs->masters[cs->nmasters++] = i;
    } else {
        snprintf(cs->err, sizeof cs->err, "no usable CLUSTER SLOTS reply");
        rc = -1;
    }
    free(map);
    return rc;
}

eng_csync_t *eng_csync_connect(const eng_csync_opts_t *opts, char *err, size_t errcap)
{
    eng_csync_t *cs = eng_calloc(1, sizeof *cs);
    cs->opts = *opts;
    cs->opts.host = eng_strdup(opts->host);
    cs->opts.password = eng_strdup(opts->password ? opts->password : "");
    cs->opts.seeds = NULL; /* read once, below */
    if (cs->opts.timeout_ms <= 0) cs->opts.timeout_ms = 3000;
    snprintf(cs->host, sizeof cs->host, "%s", opts->host);
    map_single(cs);
    cs->nmasters = 1;
    int rc = node_conn(cs, 0) ? 0 : -1;
    const char *cur = opts->cluster && opts->seeds ? opts->seeds : "";
    eng_slot_node_t *seed = &cs->map.nodes[0];
    while (rc != 0 && eng_cluster_seed_next(&cur, seed->host, &seed->port) == 1)
        rc = node_conn(cs, 0) ? 0 : -1;
    if (rc == 0 && cs->opts.cluster) rc = map_read(cs, cs->conn[0]);
    if (rc != 0) {
        snprintf(err, errcap, "%s", cs->err);
        eng_csync_free(cs);
        return NULL;
    }
    return cs;
}

void eng_csync_free(eng_csync_t *cs)
{
    if (cs == NULL) return;
    close_all(cs);
    free((char *)cs->opts.host);
    free((char *)cs->opts.password);
    free(cs);
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Returns the map index of host:port, added (not a master) when new, or -1. */
static int node_index(eng_csync_t *cs, const char *host, int port)
{
    int i = eng_slotmap_find(&cs->map, host, port);
    if (i >= 0 || cs->map.nnodes == ENG_SLOTMAP_MAX_NODES) return i;
    i = cs->map.nnodes++;
    memset(&cs->map.nodes[i], 0, sizeof cs->map.nodes[i]);
    snprintf(cs->map.nodes[i].host, sizeof cs->map.nodes[i].host, "%s", host);
    cs->map.nodes[i].port = port;
    cs->map.nodes[i].master = 0;
    return i;
}

/* Sends the RESP command cmd to node n (ASKING first when asking) and
 * returns its reply, or NULL with the connection closed. */
static redisReply *send_to(eng_csync_t *cs, int n, const char *cmd, size_t len, bool asking)
{
    redisContext *c = node_conn(cs, n);
    redisReply *r = NULL;
    if (c == NULL) return NULL;
    if (asking) redisAppendCommand(c, "ASKING");
    redisAppendFormattedCommand(c, cmd, len);
    if (asking && redisGetReply(c, (void **)&r) == REDIS_OK) freeReplyObject(r), r = NULL;
    if (redisGetReply(c, (void **)&r) != REDIS_OK) {
        snprintf(cs->err, sizeof cs->err, "Redis at %s:%d: %s", cs->map.nodes[n].host,
                 cs->map.nodes[n].port, c->errstr);
        redisFree(c);
        cs->conn[n] = NULL;
        return NULL;
    }
    return r;
}

/* Runs cmd (RESP) for slot (ENG_SLOT_ANY: the first master), following the
 * cluster's redirects for up to RETRY_FOR_MS. */
static redisReply *run(eng_csync_t *cs, const char *cmd, size_t len, int slot)
{
    int ask = -1;
    for (int waited = 0; waited <= RETRY_FOR_MS;) {
        int n = ask >= 0 ? ask : slot >= 0 ? cs->map.owner[slot] : cs->masters[0];
        redisReply *r = n >= 0 ? send_to(cs, n, cmd, len, ask >= 0) : NULL;
        ask = -1;
        eng_redirect_t red = {.kind = ENG_REDIRECT_NONE};
        if (r != NULL && r->type == REDIS_REPLY_ERROR && cs->opts.cluster &&
            eng_cluster_redirect_parse(r->str, r->len, &red) != 0)
            red.kind = ENG_REDIRECT_NONE;
        if (r != NULL && red.kind == ENG_REDIRECT_NONE) return r;
        freeReplyObject(r);
        if (!cs->opts.cluster) return NULL; /* one Redis: nowhere else to go */
        if (red.kind == ENG_REDIRECT_ASK) {
            ask = node_index(cs, red.host[0] ? red.host : cs->host, red.port);
            continue;
        }
        if (red.kind != ENG_REDIRECT_MOVED) pause_ms(RETRY_MS), waited += RETRY_MS;
        /* MOVED, a lost node or an unserved slot: the map changed */
        map_read(cs, NULL);
    }
    snprintf(cs->err, sizeof cs->err, "the cluster did not serve the command in time");
    return NULL;
}

/* Runs the RESP command cmd on master m, or (m < 0) on the master of its
 * keys' slot, following redirects. */
static redisReply *dispatch(eng_csync_t *cs, int m, const char *cmd, size_t len)
{
    if (m >= 0) return send_to(cs, cs->masters[m], cmd, len, false);
    int slot = eng_cluster_cmd_slot(cmd, len);
    if (slot >= ENG_SLOT_ANY) return run(cs, cmd, len, slot);
    snprintf(cs->err, sizeof cs->err, "the command's keys are in several slots");
    return NULL;
}

static redisReply *vdispatch(eng_csync_t *cs, int m, const char *fmt, va_list ap)
{
    char *cmd;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    if (len < 0) ENG_OOM();
    redisReply *r = dispatch(cs, m, cmd, (size_t)len);
    free(cmd);
    return r;
}

redisReply *eng_csync_argv(eng_csync_t *cs, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) ENG_OOM();
    redisReply *r = dispatch(cs, -1, cmd, (size_t)len);
    free(cmd);
    return r;
}

redisReply *eng_csync_command(eng_csync_t *cs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vdispatch(cs, -1, fmt, ap);
    va_end(ap);
    return r;
}

int eng_csync_masters(const eng_csync_t *cs)
{
    return cs->nmasters;
}

redisReply *eng_csync_on_master(eng_csync_t *cs, int i, const char *fmt, ...)
{
    if (i < 0 || i >= cs->nmasters) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vdispatch(cs, i, fmt, ap);
    va_end(ap);
    return r;
}

const char *eng_csync_error(const eng_csync_t *cs)
{
    return cs->err;
}
