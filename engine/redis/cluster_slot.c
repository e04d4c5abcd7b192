/* cluster_slot.c - key slots, redirections and the slot map; see cluster_slot.h. */
#include "engine/redis/cluster_slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* crc16_table[b]: the CRC of the byte b (polynomial 0x1021), so that each
 * byte costs one lookup instead of eight shifts: every batch command is
 * hashed. */
static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b,
    0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738,
    0xf7df, 0xe7fe, 0xd79d, 0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5, 0x4ad4, 0x7ab7, 0x6a96,
    0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb,
    0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2,
    0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827,
    0x18c0, 0x08e1, 0x3882, 0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e, 0xed0f, 0xdd6c, 0xcd4d,
    0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

uint16_t eng_crc16(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xff]);
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

/* Sorted by name (binary search: every batch command is looked up, and
 * most, the single-key writes, are not here). */
static const keyspec_t keyspecs[] = {
    {"ASKING", 0, 0, 0},     {"AUTH", 0, 0, 0},      {"CLIENT", 0, 0, 0},
    {"CLUSTER", 0, 0, 0},    {"CONFIG", 0, 0, 0},    {"DBSIZE", 0, 0, 0},
    {"DEL", 1, -1, 1},       {"ECHO", 0, 0, 0},      {"EVAL", -1, 0, 0},
    {"EVALSHA", -1, 0, 0},   {"EXEC", 0, 0, 0},      {"EXISTS", 1, -1, 1},
    {"FCALL", -1, 0, 0},     {"FLUSHALL", 0, 0, 0},  {"FLUSHDB", 0, 0, 0},
    {"INFO", 0, 0, 0},       {"KEYS", 0, 0, 0},      {"MGET", 1, -1, 1},
    {"MSET", 1, -1, 2},      {"MULTI", 0, 0, 0},     {"PING", 0, 0, 0},
    {"PSUBSCRIBE", 0, 0, 0}, {"PUBLISH", 0, 0, 0},   {"READONLY", 0, 0, 0},
    {"RENAME", 1, 2, 1},     {"RENAMENX", 1, 2, 1},  {"SCAN", 0, 0, 0},
    {"SCRIPT", 0, 0, 0},     {"SELECT", 0, 0, 0},    {"SINTERSTORE", 1, -1, 1},
    {"SMOVE", 1, 2, 1},      {"SUBSCRIBE", 0, 0, 0}, {"SUNIONSTORE", 1, -1, 1},
    {"TOUCH", 1, -1, 1},     {"UNLINK", 1, -1, 1},   {"WAIT", 0, 0, 0},
    {"WATCH", 1, -1, 1},
};

/* Compares the command name (len bytes, any case) with an upper-case one. */
static int name_cmp(const char *name, size_t len, const char *upper)
{
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)name[i], u = (unsigned char)upper[i];
        if (c >= 'a' && c <= 'z') c -= 'a' - 'A';
        if (u == 0 || c != u) return u == 0 ? 1 : c - u;
    }
    return upper[len] == 0 ? 0 : -1;
}

static const keyspec_t *keyspec(const char *name, size_t len)
{
    size_t lo = 0, hi = sizeof keyspecs / sizeof keyspecs[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = name_cmp(name, len, keyspecs[mid].name);
        if (c == 0) return &keyspecs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
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
