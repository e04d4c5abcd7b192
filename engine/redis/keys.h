/* keys.h - Redis key names, in one place (docs/REDIS.md lists them all).
 * Threads: any; pure functions.
 * Ownership: keys are written into the caller's batch or buffer.
 * Errors: none; eng_key_format() truncates to cap and returns the full length. */
#ifndef ENG_KEYS_H
#define ENG_KEYS_H

#include "engine/redis/batch.h"

#include <stddef.h>

/* Per-thing keys: PREFIX{TUID}SUFFIX, so a Redis Cluster keeps a thing's
 * keys on one shard. */
#define ENG_KEY_THING ":thing"
#define ENG_KEY_MSGS ":msgs"
#define ENG_KEY_WIN_HB ":w:hb"
#define ENG_KEY_WIN_GW ":w:gw"
#define ENG_KEY_CMDS ":cmds"
#define ENG_KEY_INST ":inst"

/* Appends PREFIX{TUID}SUFFIX as one argument of the command being built. */
void eng_key_thing(eng_batch_t *batch, const char *prefix, const char *tuid, size_t tlen,
                   const char *suffix);
/* Appends PREFIXpart:TOPIC:N. */
void eng_key_part(eng_batch_t *batch, const char *prefix, const char *topic, int partition);
/* Appends PREFIXNAME (alerting, relayed, unheard, groups, ...). */
void eng_key_global(eng_batch_t *batch, const char *prefix, const char *name);

/* Writes PREFIX{TUID}SUFFIX into buf; returns the length it needs. */
size_t eng_key_format(char *buf, size_t cap, const char *prefix, const char *tuid, size_t tlen,
                      const char *suffix);

#endif
