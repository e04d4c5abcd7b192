/* restore.h - loads what the detector and the state merge need from Redis
 *             when partitions are assigned, before their records are consumed:
 *             the things of each partition (P part:TOPIC:N), and on the first
 *             assignment the gateways (P relayed) and the installed but never
 *             heard things (P unheard).
 * Threads: loop thread only.
 * Ownership: borrows the store, things, detector and kafka.
 * Errors: a lost connection restarts the restore from the beginning once the
 *   store reconnects (restoring a thing twice changes nothing). */
#ifndef ENG_RESTORE_H
#define ENG_RESTORE_H

#include "config/config.h"
#include "engine/ingest/kafka.h"
#include "engine/ingest/store.h"
#include "engine/model/detector.h"
#include "engine/model/groups.h"

#include <stdint.h>

/* One thing as its Redis hash holds it (fields absent: 0, -1 or ""). */
typedef struct eng_snapshot_s {
    uint32_t heard; /* "timestamp" */
    uint32_t t_gw, t_batl, t_loc, t_ver;
    int64_t hb_from, gw_from; /* open windows' from, -1 when none */
    int64_t status_ts;
    uint32_t relayed; /* from P relayed, 0 when not a gateway */
    char gateway[PROTO_TUID_MAX + 1];
    char status[16];
    char group[72];
} eng_snapshot_t;

typedef struct eng_restore_s eng_restore_t;

eng_restore_t *eng_restore_new(const cfg_t *cfg, eng_store_t *store, eng_kafka_t *kafka,
                               eng_groups_t *groups);
void eng_restore_set_detector(eng_restore_t *restore, eng_detector_t *det);
/* The first restore also resends what P outbox holds. */
struct eng_outbox_s;
void eng_restore_set_outbox(eng_restore_t *restore, struct eng_outbox_s *outbox);
void eng_restore_free(eng_restore_t *restore);

/* Restores the things of n partitions; done(arg) runs when all are loaded
 * (possibly before this returns). One restore at a time. */
void eng_restore_start(eng_restore_t *restore, const eng_tp_t *tps, size_t n,
                       void (*done)(void *arg), void *arg);
/* The store (re)connected: starts or restarts a pending restore. */
void eng_restore_on_ready(eng_restore_t *restore);
/* Forgets a pending restore without calling done. */
void eng_restore_cancel(eng_restore_t *restore);

/* Parses an HGETALL reply of a thing hash into snap. Returns 0. */
struct redisReply;
int eng_snapshot_parse(eng_snapshot_t *snap, const struct redisReply *reply);

#endif
