/* batch.c - RESP command buffer and ack bookkeeping; see batch.h. */
#include "engine/redis/batch.h"

#include "engine/base/log.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    *p = eng_realloc(*p, cap2 * elem);
    *cap = cap2;
}

static void put(eng_batch_t *batch, const void *data, size_t len)
{
    grow((void **)&batch->buf, &batch->cap, batch->len + len, 1);
    memcpy(batch->buf + batch->len, data, len);
    batch->len += len;
}

/* Writes v in decimal at the end of buf[0..24); returns where it starts.
 * Hot path: every argument has a length header, so no snprintf here. */
static char *fmt_u64(char buf[24], uint64_t v)
{
    char *p = buf + 24;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

static void put_header(eng_batch_t *batch, char type, size_t n)
{
    char tmp[32];
    char *digits = fmt_u64(tmp + 1, n);
    *--digits = type;
    size_t len = (size_t)(tmp + 25 - digits);
    grow((void **)&batch->buf, &batch->cap, batch->len + len + 2, 1);
    memcpy(batch->buf + batch->len, digits, len);
    batch->buf[batch->len + len] = '\r';
    batch->buf[batch->len + len + 1] = '\n';
    batch->len += len + 2;
}

void eng_batch_init(eng_batch_t *batch)
{
    memset(batch, 0, sizeof *batch);
}

void eng_batch_close(eng_batch_t *batch)
{
    free(batch->buf);
    free(batch->ends);
    free(batch->offsets);
    free(batch->kafka_ts);
    free(batch->events);
    memset(batch, 0, sizeof *batch);
}

void eng_batch_reset(eng_batch_t *batch)
{
    assert(batch->cmd_args == batch->cmd_nargs);
    batch->len = 0;
    batch->ncmds = 0;
    batch->noffsets = 0;
    batch->nmsgs = 0;
    batch->events_len = 0;
    batch->nevents = 0;
    batch->replies = 0;
    batch->errors = 0;
    batch->sent_ms = 0;
    batch->attempts = 0;
}

void eng_batch_cmd(eng_batch_t *batch, int nargs)
{
    assert(batch->cmd_args == batch->cmd_nargs && nargs > 0);
    batch->cmd_start = batch->len;
    batch->cmd_nargs = nargs;
    batch->cmd_args = 0;
    put_header(batch, '*', (size_t)nargs);
}

static void arg_done(eng_batch_t *batch)
{
    if (++batch->cmd_args < batch->cmd_nargs) return;
    grow((void **)&batch->ends, &batch->ends_cap, (size_t)batch->ncmds + 1, sizeof *batch->ends);
    batch->ends[batch->ncmds++] = (uint32_t)batch->len;
}

void eng_batch_arg(eng_batch_t *batch, const void *data, size_t len)
{
    assert(batch->cmd_args < batch->cmd_nargs);
    put_header(batch, '$', len);
    put(batch, data, len);
    put(batch, "\r\n", 2);
    arg_done(batch);
}

void eng_batch_arg_str(eng_batch_t *batch, const char *s)
{
    eng_batch_arg(batch, s, strlen(s));
}

void eng_batch_arg_i64(eng_batch_t *batch, int64_t v)
{
    char tmp[25];
    char *p = fmt_u64(tmp + 1, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0) *--p = '-';
    eng_batch_arg(batch, p, (size_t)(tmp + 25 - p));
}

/* m / 10^k with the point in place: "-12.05" for m = -1205, k = 2. */
static int fmt_scaled(char *buf, double m, int k)
{
    char tmp[32];
    char *p = fmt_u64(tmp + 1, (uint64_t)fabs(m)); /* tmp + 1 .. tmp + 25 */
    int n = (int)(tmp + 25 - p), len = 0;
    if (m < 0) buf[len++] = '-';
    if (k == 0) {
        memcpy(buf + len, p, (size_t)n);
        return len + n;
    }
    if (n <= k) { /* 0.0ddd */
        buf[len++] = '0';
        buf[len++] = '.';
        memset(buf + len, '0', (size_t)(k - n));
        len += k - n;
        memcpy(buf + len, p, (size_t)n);
        return len + n;
    }
    memcpy(buf + len, p, (size_t)(n - k));
    len += n - k;
    buf[len++] = '.';
    memcpy(buf + len, p + n - k, (size_t)k);
    return len + k;
}

int eng_fmt_f64(char *buf, double v)
{
    /* Fast path (timestamps, battery levels, coordinates): the fewest
     * decimals up to 9 that parse back to v. m and 10^k are exact doubles, so
     * m / 10^k is the double nearest to that decimal, which is what strtod
     * returns for it: equality means it round-trips. */
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    for (int k = 0; k < 10 && fabs(v) * pow10[k] < 9007199254740992.0; k++) {
        double m = nearbyint(v * pow10[k]);
        if (m / pow10[k] == v) return fmt_scaled(buf, m, k);
    }
    int k = snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v) k = snprintf(buf, 32, "%.17g", v);
    return k;
}

void eng_batch_arg_f64(eng_batch_t *batch, double v)
{
    char tmp[32];
    int k = eng_fmt_f64(tmp, v);
    eng_batch_arg(batch, tmp, (size_t)k);
}

void eng_batch_arg_key(eng_batch_t *batch, const char *prefix, const char *middle, size_t mlen,
                       const char *suffix)
{
    size_t plen = strlen(prefix), slen = strlen(suffix);
    assert(batch->cmd_args < batch->cmd_nargs);
    put_header(batch, '$', plen + mlen + slen);
    put(batch, prefix, plen);
    put(batch, middle, mlen);
    put(batch, suffix, slen);
    put(batch, "\r\n", 2);
    arg_done(batch);
}

size_t eng_batch_get_cmd(const eng_batch_t *batch, uint32_t i, const char **data)
{
    assert(i < batch->ncmds);
    size_t start = i == 0 ? 0 : batch->ends[i - 1];
    *data = batch->buf + start;
    return batch->ends[i] - start;
}

void eng_batch_offset(eng_batch_t *batch, uint16_t topic, int32_t partition, int64_t next)
{
    for (size_t i = 0; i < batch->noffsets; i++) {
        eng_offset_t *o = &batch->offsets[i];
        if (o->topic == topic && o->partition == partition) {
            if (next > o->next) o->next = next;
            return;
        }
    }
    grow((void **)&batch->offsets, &batch->offsets_cap, batch->noffsets + 1,
         sizeof *batch->offsets);
    batch->offsets[batch->noffsets++] = (eng_offset_t){topic, partition, next};
}

void eng_batch_message(eng_batch_t *batch, int64_t kafka_ts_ms)
{
    grow((void **)&batch->kafka_ts, &batch->kafka_ts_cap, batch->nmsgs + 1,
         sizeof *batch->kafka_ts);
    batch->kafka_ts[batch->nmsgs++] = kafka_ts_ms;
}

void eng_batch_event(eng_batch_t *batch, const char *tuid, const char *json, size_t json_len)
{
    size_t tlen = strlen(tuid);
    grow((void **)&batch->events, &batch->events_cap, batch->events_len + tlen + json_len + 2, 1);
    memcpy(batch->events + batch->events_len, tuid, tlen + 1);
    batch->events_len += tlen + 1;
    memcpy(batch->events + batch->events_len, json, json_len);
    batch->events_len += json_len;
    batch->events[batch->events_len++] = 0;
    batch->nevents++;
}
