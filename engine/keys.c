/* keys.c - Redis key names; see keys.h. */
#include "engine/keys.h"

#include <stdio.h>
#include <string.h>

void eng_key_thing(eng_batch_t *batch, const char *prefix, const char *tuid, size_t tlen,
                   const char *suffix)
{
    char key[256];
    size_t n = eng_key_format(key, sizeof key, prefix, tuid, tlen, suffix);
    eng_batch_arg(batch, key, n < sizeof key ? n : sizeof key - 1);
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
