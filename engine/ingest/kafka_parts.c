/* kafka_parts.c - the consumer's partition table; see kafka_parts.h. */
#include "engine/ingest/kafka_parts.h"

#include "engine/base/log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct eng_kparts_s {
    uv_mutex_t lock;
    eng_kafka_part_t *v; /* sorted by topic, partition */
    size_t n, cap;
    _Atomic int64_t newest[ENG_KPARTS_IDS]; /* by (topic << 10) | partition */
};

static uint32_t id_of(uint16_t topic, int32_t partition)
{
    return ((uint32_t)topic << 10 | ((uint32_t)partition & 0x3ff)) % ENG_KPARTS_IDS;
}

eng_kparts_t *eng_kparts_new(void)
{
    eng_kparts_t *kp = eng_calloc(1, sizeof *kp);
    uv_mutex_init(&kp->lock);
    for (size_t i = 0; i < ENG_KPARTS_IDS; i++)
        atomic_init(&kp->newest[i], -1);
    return kp;
}

void eng_kparts_free(eng_kparts_t *kp)
{
    if (kp == NULL) return;
    uv_mutex_destroy(&kp->lock);
    free(kp->v);
    free(kp);
}

/* Returns the index of (topic, partition), or where it would go. */
static size_t find(const eng_kparts_t *kp, uint16_t topic, int32_t partition, int *found)
{
    size_t lo = 0, hi = kp->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const eng_kafka_part_t *p = &kp->v[mid];
        if (p->topic < topic || (p->topic == topic && p->partition < partition))
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < kp->n && kp->v[lo].topic == topic && kp->v[lo].partition == partition;
    return lo;
}

void eng_kparts_add(eng_kparts_t *kp, uint16_t topic, int32_t partition)
{
    uv_mutex_lock(&kp->lock);
    int found;
    size_t i = find(kp, topic, partition, &found);
    if (!found) {
        if (kp->n == kp->cap) {
            kp->cap = kp->cap ? kp->cap * 2 : 16;
            kp->v = eng_realloc(kp->v, kp->cap * sizeof *kp->v);
        }
        memmove(kp->v + i + 1, kp->v + i, (kp->n - i) * sizeof *kp->v);
        kp->v[i] = (eng_kafka_part_t){topic, partition, -1, -1, -1, -1};
        kp->n++;
    }
    uv_mutex_unlock(&kp->lock);
}

void eng_kparts_remove(eng_kparts_t *kp, uint16_t topic, int32_t partition)
{
    uv_mutex_lock(&kp->lock);
    int found;
    size_t i = find(kp, topic, partition, &found);
    if (found) memmove(kp->v + i, kp->v + i + 1, (--kp->n - i) * sizeof *kp->v);
    uv_mutex_unlock(&kp->lock);
}

void eng_kparts_clear(eng_kparts_t *kp)
{
    uv_mutex_lock(&kp->lock);
    kp->n = 0;
    uv_mutex_unlock(&kp->lock);
}

void eng_kparts_record(eng_kparts_t *kp, uint16_t topic, int32_t partition, int64_t ts_ms)
{
    _Atomic int64_t *slot = &kp->newest[id_of(topic, partition)];
    if (ts_ms > atomic_load_explicit(slot, memory_order_relaxed))
        atomic_store_explicit(slot, ts_ms, memory_order_relaxed);
}

static int64_t int_of(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Applies the statistics of one partition object of topic index t. */
static void stats_part(eng_kparts_t *kp, uint16_t t, json_t *p)
{
    int64_t partition = int_of(p, "partition");
    int found;
    if (partition < 0) return; /* the internal unassigned entry, -1 */
    size_t i = find(kp, t, (int32_t)partition, &found);
    if (!found) return;
    eng_kafka_part_t *e = &kp->v[i];
    int64_t committed = int_of(p, "committed_offset"), high = int_of(p, "hi_offset");
    int64_t low = int_of(p, "lo_offset");
    if (committed >= 0) e->committed = committed;
    if (high >= 0) e->high = high;
    if (e->high >= 0 && e->committed >= 0)
        e->lag = e->high > e->committed ? e->high - e->committed : 0;
    else if (e->high >= 0 && low >= 0)
        e->lag = e->high - low; /* nothing committed yet: all of it is to do */
}

void eng_kparts_stats(eng_kparts_t *kp, const char *json,
                      int (*topic_index)(void *arg, const char *name), void *arg)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    json_t *topics = json_object_get(root, "topics");
    if (!json_is_object(topics)) {
        json_decref(root);
        return;
    }
    uv_mutex_lock(&kp->lock);
    const char *name;
    json_t *topic;
    json_object_foreach(topics, name, topic)
    {
        int t = topic_index(arg, name);
        json_t *parts = json_object_get(topic, "partitions");
        if (t < 0 || !json_is_object(parts)) continue;
        const char *key;
        json_t *p;
        json_object_foreach(parts, key, p) stats_part(kp, (uint16_t)t, p);
    }
    uv_mutex_unlock(&kp->lock);
    json_decref(root);
}

size_t eng_kparts_snapshot(eng_kparts_t *kp, eng_kafka_part_t *out, size_t cap)
{
    uv_mutex_lock(&kp->lock);
    size_t n = kp->n;
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i] = kp->v[i];
        out[i].newest_ts_ms = atomic_load_explicit(
            &kp->newest[id_of(out[i].topic, out[i].partition)], memory_order_relaxed);
    }
    uv_mutex_unlock(&kp->lock);
    return n;
}
