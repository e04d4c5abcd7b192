/* keys.c - Redis key names; see keys.h. */
#include "engine/redis/keys.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void eng_key_thing(eng_batch_t *batch, const char *prefix, const char *tuid, size_t tlen,
                   const char *suffix)
{
    /* Hot path (several keys per message): plain copies, no snprintf. */
    char key[256];
    size_t plen = strlen(prefix), slen = strlen(suffix);
    /* redis.prefix is at most 64 bytes, a tuid 64, a suffix 8. */
    assert(plen + tlen + slen + 2 <= sizeof key);
    memcpy(key, prefix, plen);
    key[plen] = '{';
    memcpy(key + plen + 1, tuid, tlen);
    key[plen + 1 + tlen] = '}';
    memcpy(key + plen + 2 + tlen, suffix, slen);
    eng_batch_arg(batch, key, plen + tlen + slen + 2);
}

void eng_key_part(eng_batch_t *batch, const char *prefix, const char *topic, int partition)
{
    char key[512];
    int n = snprintf(key, sizeof key, "%spart:%s:%d", prefix, topic, partition);
    eng_batch_arg(batch, key, (size_t)n < sizeof key ? (size_t)n : sizeof key - 1);
}

void eng_key_global(eng_batch_t *batch, const char *prefix, const char *name)
{
    eng_batch_arg_key(batch, prefix, name, strlen(name), "");
}

size_t eng_key_format(char *buf, size_t cap, const char *prefix, const char *tuid, size_t tlen,
                      const char *suffix)
{
    int n = snprintf(buf, cap, "%s{%.*s}%s", prefix, (int)tlen, tuid, suffix);
    return n < 0 ? 0 : (size_t)n;
}
