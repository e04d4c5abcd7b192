/* cluster_slot.c - key slots, redirections and the slot map; see cluster_slot.h. */
#include "engine/cluster_slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint16_t eng_crc16(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

uint16_t eng_cluster_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close != NULL && close != key + from)
            return eng_crc16(key + from, (size_t)(close - (key + from))) & (ENG_SLOTS - 1);
    }
    return eng_crc16(key, len) & (ENG_SLOTS - 1);
}

/* Where the keys of a command are: argv[first], then every step-th up to
 * last (0: argv[first] only, -1: to the end). A first of 0 means no key;
 * -1 means EVAL-style (argv[2] keys from argv[3]). */
typedef struct keyspec_s {
    const char *name;
    int first, last, step;
} keyspec_t;

static const keyspec_t keyspecs[] = {
    {"PING", 0, 0, 0},         {"ECHO", 0, 0, 0},      {"PUBLISH", 0, 0, 0},
    {"WAIT", 0, 0, 0},         {"CLUSTER", 0, 0, 0},   {"INFO", 0, 0, 0},
    {"SCAN", 0, 0, 0},         {"SUBSCRIBE", 0, 0, 0}, {"PSUBSCRIBE", 0, 0, 0},
    {"AUTH", 0, 0, 0},         {"SELECT", 0, 0, 0},    {"ASKING", 0, 0, 0},
    {"READONLY", 0, 0, 0},     {"SCRIPT", 0, 0, 0},    {"MULTI", 0, 0, 0},
    {"EXEC", 0, 0, 0},         {"KEYS", 0, 0, 0},      {"DBSIZE", 0, 0, 0},
    {"FLUSHALL", 0, 0, 0},     {"FLUSHDB", 0, 0, 0},   {"CONFIG", 0, 0, 0},
    {"CLIENT", 0, 0, 0},       {"DEL", 1, -1, 1},      {"UNLINK", 1, -1, 1},
    {"EXISTS", 1, -1, 1},      {"TOUCH", 1, -1, 1},    {"MGET", 1, -1, 1},
    {"WATCH", 1, -1, 1},       {"MSET", 1, -1, 2},     {"RENAME", 1, 2, 1},
    {"RENAMENX", 1, 2, 1},     {"SMOVE", 1, 2, 1},     {"SUNIONSTORE", 1, -1, 1},
    {"SINTERSTORE", 1, -1, 1}, {"EVAL", -1, 0, 0},     {"EVALSHA", -1, 0, 0},
    {"FCALL", -1, 0, 0},
};

static const keyspec_t *keyspec(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof keyspecs / sizeof keyspecs[0]; i++)
        if (strlen(keyspecs[i].name) == len && strncasecmp(keyspecs[i].name, name, len) == 0)
            return &keyspecs[i];
    return NULL;
}

/* Folds the slot of one more key into *slot; returns 0 or ENG_SLOT_ECROSS. */
static int fold(int *slot, const char *key, size_t len)
{
    int s = eng_cluster_key_slot(key, len);
    if (*slot >= 0 && *slot != s) return ENG_SLOT_ECROSS;
    *slot = s;
    return 0;
}

int eng_cluster_argv_slot(int argc, const char *const *argv, const size_t *argvlen)
{
    if (argc < 1) return ENG_SLOT_EPARSE;
    const keyspec_t *ks = keyspec(argv[0], argvlen[0]);
    int first = ks ? ks->first : 1, last = ks ? ks->last : 0, step = ks ? ks->step : 1;
    int slot = ENG_SLOT_ANY;
    if (first == 0 || argc < 2) return ENG_SLOT_ANY;
    if (first < 0) { /* EVAL script numkeys key... arg... */
        if (argc < 3) return ENG_SLOT_EPARSE;
        char num[16];
        size_t n = argvlen[2] < sizeof num - 1 ? argvlen[2] : sizeof num - 1;
        memcpy(num, argv[2], n);
        num[n] = 0;
        char *end;
        long nkeys = strtol(num, &end, 10);
        if (n == 0 || *end != 0 || nkeys < 0 || nkeys > argc - 3) return ENG_SLOT_EPARSE;
        first = 3;
        last = (int)nkeys + 2;
        step = 1;
        if (nkeys == 0) return ENG_SLOT_ANY;
    }
    if (last < 0)
        last = argc - 1;
    else if (last == 0)
        last = first;
    for (int i = first; i <= last && i < argc; i += step)
        if (fold(&slot, argv[i], argvlen[i]) != 0) return ENG_SLOT_ECROSS;
    return slot;
}

/* Reads "<type>N\r\n" at *p; returns N or -1. */
static long resp_header(const char **p, const char *end, char type)
{
    const char *q = *p;
    if (q >= end || *q != type) return -1;
    long n = 0;
    for (q++; q < end && *q >= '0' && *q <= '9'; q++) {
        n = n * 10 + (*q - '0');
        if (n > 0x7fffffff) return -1;
    }
    if (q == *p + 1 || end - q < 2 || q[0] != '\r' || q[1] != '\n') return -1;
    *p = q + 2;
    return n;
}

#define CMD_ARGS_MAX 64 /* only the first arguments are read: the keys come first */

int eng_cluster_cmd_slot(const char *resp, size_t len)
{
    const char *p = resp, *end = resp + len;
    const char *argv[CMD_ARGS_MAX];
    size_t argvlen[CMD_ARGS_MAX];
    long n = resp_header(&p, end, '*');
    if (n < 1) return ENG_SLOT_EPARSE;
    int argc = 0;
    for (long i = 0; i < n; i++) {
        long l = resp_header(&p, end, '$');
        if (l < 0 || end - p < l + 2 || p[l] != '\r' || p[l + 1] != '\n') return ENG_SLOT_EPARSE;
        if (argc < CMD_ARGS_MAX) {
            argv[argc] = p;
            argvlen[argc++] = (size_t)l;
        }
        p += l + 2;
    }
    if (p != end) return ENG_SLOT_EPARSE;
    return eng_cluster_argv_slot(argc, argv, argvlen);
}

static int starts(const char *s, size_t len, const char *word)
{
    size_t w = strlen(word);
    return len >= w && memcmp(s, word, w) == 0 && (len == w || s[w] == ' ');
}

int eng_cluster_redirect_parse(const char *err, size_t len, eng_redirect_t *out)
{
    eng_redirect_t r = {.kind = ENG_REDIRECT_NONE, .slot = -1};
    int moved = starts(err, len, "MOVED"), ask = starts(err, len, "ASK");
    if (starts(err, len, "TRYAGAIN")) r.kind = ENG_REDIRECT_TRYAGAIN;
    if (starts(err, len, "CLUSTERDOWN")) r.kind = ENG_REDIRECT_CLUSTERDOWN;
    if (moved || ask) {
        char buf[128];
        if (len >= sizeof buf) return ENG_SLOT_EPARSE;
        memcpy(buf, err, len);
        buf[len] = 0;
        char *sp = strchr(buf, ' '), *addr, *colon, *end;
        if (sp == NULL) return ENG_SLOT_EPARSE;
        long slot = strtol(sp + 1, &end, 10);
        if (end == sp + 1 || *end != ' ' || slot < 0 || slot >= ENG_SLOTS) return ENG_SLOT_EPARSE;
        addr = end + 1;
        colon = strrchr(addr, ':');
        if (colon == NULL || (size_t)(colon - addr) > ENG_SLOT_HOST_MAX) return ENG_SLOT_EPARSE;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != 0 || port < 1 || port > 65535) return ENG_SLOT_EPARSE;
        r.kind = moved ? ENG_REDIRECT_MOVED : ENG_REDIRECT_ASK;
        r.slot = (int)slot;
        memcpy(r.host, addr, (size_t)(colon - addr));
        r.host[colon - addr] = 0;
        r.port = (int)port;
    }
    *out = r;
    return 0;
}

int eng_slotmap_find(const eng_slotmap_t *map, const char *host, int port)
{
    for (int i = 0; i < map->nnodes; i++)
        if (map->nodes[i].port == port && strcmp(map->nodes[i].host, host) == 0) return i;
    return -1;
}

/* Reads [host, port, id...] into a node of map (found or added); returns its
 * index or -1. */
static int slotmap_node(eng_slotmap_t *map, const redisReply *r, int16_t master)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) return -1;
    const redisReply *h = r->element[0], *p = r->element[1];
    if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_INTEGER) return -1;
    if (h->len > ENG_SLOT_HOST_MAX || p->integer < 1 || p->integer > 65535) return -1;
    char host[ENG_SLOT_HOST_MAX + 1];
    memcpy(host, h->str, h->len);
    host[h->len] = 0;
    int i = eng_slotmap_find(map, host, (int)p->integer);
    if (i < 0) {
        if (map->nnodes == ENG_SLOTMAP_MAX_NODES) return -1;
        i = map->nnodes++;
        eng_slot_node_t *n = &map->nodes[i];
        memset(n, 0, sizeof *n);
        memcpy(n->host, host, h->len + 1);
        n->port = (int)p->integer;
        if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_STRING)
            snprintf(n->id, sizeof n->id, "%.*s", (int)r->element[2]->len, r->element[2]->str);
    }
    map->nodes[i].master = master;
    return i;
}

static void slotmap_clear(eng_slotmap_t *map)
{
    map->nnodes = 0;
    map->served = 0;
    for (int s = 0; s < ENG_SLOTS; s++)
        map->owner[s] = -1;
}

int eng_slotmap_parse(eng_slotmap_t *map, const redisReply *reply)
{
    slotmap_clear(map);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) return ENG_SLOT_EMAP;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *range = reply->element[i];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) goto fail;
        const redisReply *a = range->element[0], *b = range->element[1];
        if (a->type != REDIS_REPLY_INTEGER || b->type != REDIS_REPLY_INTEGER) goto fail;
        if (a->integer < 0 || b->integer < a->integer || b->integer >= ENG_SLOTS) goto fail;
        int m = slotmap_node(map, range->element[2], -1);
        if (m < 0) goto fail;
        for (size_t k = 3; k < range->elements; k++)
            if (slotmap_node(map, range->element[k], (int16_t)m) < 0) goto fail;
        for (long long s = a->integer; s <= b->integer; s++) {
            if (map->owner[s] < 0) map->served++;
            map->owner[s] = (int16_t)m;
        }
    }
    return 0;
fail:
    slotmap_clear(map);
    return ENG_SLOT_EMAP;
}

int eng_slotmap_replicas(const eng_slotmap_t *map, int m)
{
    int n = 0;
    for (int i = 0; i < map->nnodes; i++)
        n += map->nodes[i].master == m;
    return n;
}

int eng_slotmap_same(const eng_slotmap_t *a, const eng_slotmap_t *b)
{
    if (a->served != b->served) return 0;
    for (int s = 0; s < ENG_SLOTS; s++) {
        int x = a->owner[s], y = b->owner[s];
        if ((x < 0) != (y < 0)) return 0;
        if (x < 0) continue;
        if (a->nodes[x].port != b->nodes[y].port || strcmp(a->nodes[x].host, b->nodes[y].host))
            return 0;
    }
    return 1;
}

int eng_cluster_seed_next(const char **cursor, char host[ENG_SLOT_HOST_MAX + 1], int *port)
{
    const char *p = *cursor;
    while (*p == ' ' || *p == ',')
        p++;
    if (*p == 0) {
        *cursor = p;
        return 0;
    }
    size_t len = strcspn(p, ", ");
    const char *colon = NULL;
    for (const char *q = p; q < p + len; q++)
        if (*q == ':') colon = q; /* the last one: IPv6 hosts have colons */
    if (colon == NULL || colon == p || (size_t)(colon - p) > ENG_SLOT_HOST_MAX)
        return ENG_SLOT_EPARSE;
    char num[8];
    size_t nlen = (size_t)(p + len - colon - 1);
    if (nlen == 0 || nlen >= sizeof num) return ENG_SLOT_EPARSE;
    memcpy(num, colon + 1, nlen);
    num[nlen] = 0;
    char *end;
    long v = strtol(num, &end, 10);
    if (*end != 0 || v < 1 || v > 65535) return ENG_SLOT_EPARSE;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = 0;
    *port = (int)v;
    *cursor = p + len;
    return 1;
}
