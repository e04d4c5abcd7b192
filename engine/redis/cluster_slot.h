/* cluster_slot.h - what a Redis Cluster client must compute without talking
 *                  to a server: the slot of a key (CRC16-XMODEM of its hash
 *                  tag, mod 16384), the slot of a command (of its key
 *                  argument), the redirection in an error reply (MOVED, ASK,
 *                  TRYAGAIN, CLUSTERDOWN) and the slot map of CLUSTER SLOTS.
 * Threads: any; pure functions on caller-owned data.
 * Ownership: the slot map owns nothing outside itself (host names are copied).
 * Errors: parsers return a negative ENG_SLOT_E* code and leave the output
 *   as it was, or as documented. */
#ifndef ENG_CLUSTER_SLOT_H
#define ENG_CLUSTER_SLOT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define ENG_SLOTS 16384
/* Nodes a slot map holds, masters and replicas (a 3+3 cluster uses 6). */
#define ENG_SLOTMAP_MAX_NODES 64
#define ENG_SLOT_HOST_MAX 64

/* eng_cluster_cmd_slot() results that are not a slot. */
#define ENG_SLOT_ANY (-1)    /* the command has no key: any node takes it */
#define ENG_SLOT_EPARSE (-2) /* not one well-formed RESP array of bulk strings */
#define ENG_SLOT_ECROSS (-3) /* keys of several slots: a cluster refuses it */
#define ENG_SLOT_EMAP (-4)   /* not a CLUSTER SLOTS reply tsmd can use */

/* CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum of the
 * Redis Cluster key space. */
uint16_t eng_crc16(const void *data, size_t len);

/* Returns the slot of key: of the part between the first '{' and the first
 * '}' after it when that part is not empty (the hash tag), else of the whole
 * key. */
uint16_t eng_cluster_key_slot(const char *key, size_t len);

/* Returns the slot of a command given as argv (command name first): the slot
 * of its keys (every key must be in that slot), ENG_SLOT_ANY for commands
 * without keys (PUBLISH, PING, WAIT, CLUSTER...: channels are not keys), or
 * ENG_SLOT_ECROSS / ENG_SLOT_EPARSE (EVAL with a bad key count). */
int eng_cluster_argv_slot(int argc, const char *const *argv, const size_t *argvlen);

/* The same for one command in RESP ("*N\r\n$len\r\narg\r\n..."), the form of
 * eng_batch_t's commands. */
int eng_cluster_cmd_slot(const char *resp, size_t len);

/* What an error reply asks of a cluster client. */
typedef enum eng_redirect_kind_e {
    ENG_REDIRECT_NONE,        /* another error: not about the cluster */
    ENG_REDIRECT_MOVED,       /* the slot has a new owner: refresh the map, resend there */
    ENG_REDIRECT_ASK,         /* this key is being imported there: ASKING, resend there once */
    ENG_REDIRECT_TRYAGAIN,    /* keys of a slot in migration are split: retry later */
    ENG_REDIRECT_CLUSTERDOWN, /* the cluster cannot serve the slot now: retry later */
} eng_redirect_kind_t;

typedef struct eng_redirect_s {
    eng_redirect_kind_t kind;
    int slot;                         /* MOVED / ASK, else -1 */
    char host[ENG_SLOT_HOST_MAX + 1]; /* MOVED / ASK; empty: the host of the node that answered */
    int port;                         /* MOVED / ASK, else 0 */
} eng_redirect_t;

/* Classifies the error text err (len bytes, e.g. "MOVED 3999 127.0.0.1:6381").
 * Returns 0 with *out set (kind NONE for errors of other kinds), or
 * ENG_SLOT_EPARSE for a MOVED/ASK without a valid slot and address. */
int eng_cluster_redirect_parse(const char *err, size_t len, eng_redirect_t *out);

typedef struct eng_slot_node_s {
    char host[ENG_SLOT_HOST_MAX + 1]; /* empty in CLUSTER SLOTS: the seed's host */
    int port;
    char id[41];    /* node id, may be empty (older servers) */
    int16_t master; /* -1 for a master, else the index of its master */
} eng_slot_node_t;

typedef struct eng_slotmap_s {
    eng_slot_node_t nodes[ENG_SLOTMAP_MAX_NODES];
    int nnodes;
    int16_t owner[ENG_SLOTS]; /* index of the slot's master, -1 when unserved */
    uint32_t served;          /* slots with a master */
} eng_slotmap_t;

/* Fills map from a CLUSTER SLOTS reply: [[start, end, [host, port, id],
 * [replica host, port, id]...]...]. Returns 0, or ENG_SLOT_EMAP when the
 * reply has another shape or more nodes than the map holds (map is then
 * empty: every slot unserved). */
int eng_slotmap_parse(eng_slotmap_t *map, const redisReply *reply);

/* Reads the next "host:port" of a comma-separated seed list at *cursor and
 * moves *cursor past it. Returns 1 with host and port set, 0 at the end, or
 * ENG_SLOT_EPARSE for an entry that is not host:port (port 1..65535). */
int eng_cluster_seed_next(const char **cursor, char host[ENG_SLOT_HOST_MAX + 1], int *port);

/* Returns the index of the node host:port in map, or -1. */
int eng_slotmap_find(const eng_slotmap_t *map, const char *host, int port);

/* Returns the number of replicas of master index m. */
int eng_slotmap_replicas(const eng_slotmap_t *map, int m);

/* Returns 1 when a and b give every slot the same master address. */
int eng_slotmap_same(const eng_slotmap_t *a, const eng_slotmap_t *b);

#endif
