/* batch.h - one batch of Redis writes: RESP commands back to back, the Kafka
 *           offsets they complete, and what to do once Redis acknowledged them.
 * Threads: loop thread only.
 * Ownership: the batch owns its buffers; they grow to the largest batch seen
 *   and are reused (eng_batch_reset keeps the memory).
 * Errors: none; out of memory aborts. */
#ifndef ENG_BATCH_H
#define ENG_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* The next offset to commit on one partition once the batch is acknowledged. */
typedef struct eng_offset_s {
    uint16_t topic;
    int32_t partition;
    int64_t next;
} eng_offset_t;

typedef struct eng_batch_s {
    char *buf; /* RESP commands */
    size_t len, cap;
    uint32_t *ends; /* end offset in buf of each command */
    uint32_t ncmds;
    size_t ends_cap;
    size_t cmd_start; /* start of the command being built */
    int cmd_nargs;    /* arguments announced by eng_batch_cmd() */
    int cmd_args;     /* arguments written so far */
    eng_offset_t *offsets;
    size_t noffsets, offsets_cap;
    int64_t *kafka_ts; /* record timestamps (ms) of its messages, for latency */
    size_t nmsgs, kafka_ts_cap;
    char *events; /* alert events to produce after the ack: "id\0json\0"... */
    size_t events_len, events_cap;
    uint32_t nevents;
    uint32_t replies, errors; /* filled in while Redis answers */
    uint64_t sent_ms;         /* loop time when sent */
    uint64_t sent_ns;         /* uv_hrtime() when sent, for the round-trip histogram */
    uint32_t attempts;        /* sends so far (retries after failures) */
} eng_batch_t;

void eng_batch_init(eng_batch_t *batch);
void eng_batch_close(eng_batch_t *batch);
/* Empties the batch, keeping its memory. */
void eng_batch_reset(eng_batch_t *batch);

/* Starts a command of nargs arguments (the command name included); exactly
 * nargs eng_batch_arg*() calls must follow. */
void eng_batch_cmd(eng_batch_t *batch, int nargs);
void eng_batch_arg(eng_batch_t *batch, const void *data, size_t len);
void eng_batch_arg_str(eng_batch_t *batch, const char *s);
void eng_batch_arg_i64(eng_batch_t *batch, int64_t v);
/* Writes a double with the shortest text that reads back the same. */
void eng_batch_arg_f64(eng_batch_t *batch, double v);
/* Writes prefix + middle + suffix as one argument (keys: "tsm:{" tuid "}:thing"). */
void eng_batch_arg_key(eng_batch_t *batch, const char *prefix, const char *middle, size_t mlen,
                       const char *suffix);

/* Returns the length of command i and sets *data to it. */
size_t eng_batch_get_cmd(const eng_batch_t *batch, uint32_t i, const char **data);

/* Records that once acknowledged, partition (topic, partition) may commit
 * next_offset; keeps the greatest per partition. */
void eng_batch_offset(eng_batch_t *batch, uint16_t topic, int32_t partition, int64_t next);
/* Records one message's Kafka timestamp for the latency histogram. */
void eng_batch_message(eng_batch_t *batch, int64_t kafka_ts_ms);
/* Queues an alert event (JSON) with its outbox id, produced after the ack. */
void eng_batch_event(eng_batch_t *batch, const char *id, const char *json, size_t json_len);

/* Formats a double as the shortest decimal that parses back to it; returns
 * its length (buf must hold 32 bytes). Integers print without a fraction. */
int eng_fmt_f64(char *buf, double v);

#endif
