/* harness.h - what the integration tests share: real processes (tsm-broker,
 * tsmd, redis-server), a Kafka producer, Redis and HTTP clients.
 * Header-only (each test_*.c is its own executable); every function is
 * static. Needs TSMD_BIN_DIR (the build directory) and TSMD_TEST_REDIS_PORT
 * (a redis-server that scripts/test started); each test uses its own
 * redis.prefix, so tests never see each other's keys. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct h_proc_s {
    pid_t pid;
    FILE *in;  /* its stdin (tsm-broker's control channel), or NULL */
    FILE *out; /* its stdout, or NULL */
    char log[256];
} h_proc_t;

static inline double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static inline const char *h_bin_dir(void)
{
    const char *dir = getenv("TSMD_BIN_DIR");
    return dir ? dir : ".";
}

static inline int h_redis_port(void)
{
    const char *p = getenv("TSMD_TEST_REDIS_PORT");
    cr_assert_not_null(p, "TSMD_TEST_REDIS_PORT is not set: run through scripts/test");
    return atoi(p);
}

static inline int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* The processes spawned and not yet stopped: a failed assertion ends the test
 * without stopping them, so they are killed at its exit. */
static pid_t h_children[64];

static inline void h_kill_children(void)
{
    for (size_t i = 0; i < sizeof h_children / sizeof h_children[0]; i++)
        if (h_children[i] > 0) {
            kill(h_children[i], SIGKILL);
            waitpid(h_children[i], NULL, 0);
            h_children[i] = 0;
        }
}

static inline void h_child_track(pid_t pid, pid_t old)
{
    static int registered;
    if (!registered) registered = atexit(h_kill_children) == 0;
    for (size_t i = 0; i < sizeof h_children / sizeof h_children[0]; i++)
        if (h_children[i] == old) {
            h_children[i] = pid;
            return;
        }
}

/* Spawns argv[0] with stdin/stdout as pipes when wanted, stderr to log. */
static inline h_proc_t h_spawn(char *const argv[], int want_in, int want_out, const char *log)
{
    h_proc_t p = {0};
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (want_in) cr_assert_eq(pipe(in), 0);
    if (want_out) cr_assert_eq(pipe(out), 0);
    snprintf(p.log, sizeof p.log, "%s", log ? log : "/dev/null");
    p.pid = fork();
    cr_assert(p.pid >= 0, "fork failed");
    if (p.pid == 0) {
        int fd = open(p.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 2);
        if (want_in) dup2(in[0], 0), close(in[1]);
        if (want_out) dup2(out[1], 1), close(out[0]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    h_child_track(p.pid, 0);
    if (want_in) close(in[0]), p.in = fdopen(in[1], "w"), setvbuf(p.in, NULL, _IOLBF, 0);
    if (want_out) close(out[1]), p.out = fdopen(out[0], "r");
    return p;
}

/* Sends a signal and waits; returns the exit status (or 128 + signal). */
static inline int h_stop(h_proc_t *p, int sig)
{
    if (p->pid <= 0) return -1;
    kill(p->pid, sig);
    int status = 0;
    waitpid(p->pid, &status, 0);
    h_child_track(0, p->pid);
    p->pid = 0;
    if (p->in) fclose(p->in), p->in = NULL;
    if (p->out) fclose(p->out), p->out = NULL;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- tsm-broker ---- */

typedef struct h_broker_s {
    h_proc_t proc;
    char bootstrap[512];
} h_broker_t;

static inline void h_broker_start(h_broker_t *b, int partitions)
{
    char exe[512], parts[16];
    snprintf(exe, sizeof exe, "%s/bench/tsm-broker", h_bin_dir());
    snprintf(parts, sizeof parts, "%d", partitions);
    char *argv[] = {exe, "--partitions", parts, NULL};
    b->proc = h_spawn(argv, 1, 1, "/tmp/tsmd-test-broker.log");
    cr_assert_not_null(fgets(b->bootstrap, sizeof b->bootstrap, b->proc.out),
                       "tsm-broker printed no bootstrap list");
    b->bootstrap[strcspn(b->bootstrap, "\r\n")] = 0;
}

/* Sends a control command; returns 0 when the broker answered ok. */
static inline int h_broker_cmd(h_broker_t *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vfprintf(b->proc.in, fmt, ap);
    va_end(ap);
    fputc('\n', b->proc.in);
    fflush(b->proc.in);
    if (fgets(line, sizeof line, b->proc.out) == NULL) return -1;
    return strncmp(line, "ok", 2) == 0 ? 0 : -1;
}

static inline void h_broker_stop(h_broker_t *b)
{
    h_stop(&b->proc, SIGTERM);
}

/* ---- Kafka producer ---- */

static inline rd_kafka_t *h_producer(const char *bootstrap)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "producer: %s", err);
    return rk;
}

static inline void h_produce(rd_kafka_t *rk, const char *topic, const char *key, const void *value,
                             size_t len)
{
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    cr_assert_eq(err, 0, "produce: %s", rd_kafka_err2str(err));
    rd_kafka_poll(rk, 0);
}

static inline void h_producer_close(rd_kafka_t *rk)
{
    cr_assert_eq(rd_kafka_flush(rk, 10000), 0, "messages not delivered to the broker");
    rd_kafka_destroy(rk);
}

/* Returns the sum over partitions of (high watermark - committed offset) of
 * group on topic, or -1 if it could not be read. */
static inline long long h_uncommitted(const char *bootstrap, const char *group, const char *topic,
                                      int partitions)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i);
    long long left = 0;
    if (rd_kafka_committed(rk, parts, 5000) != 0) left = -1;
    for (int i = 0; left >= 0 && i < partitions; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 5000) != 0) {
            left = -1;
            break;
        }
        int64_t c = parts->elems[i].offset;
        left += hi - (c < 0 ? lo : c);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return left;
}

/* Waits until every record of topic is committed by group. */
static inline void h_wait_committed(const char *bootstrap, const char *group, const char *topic,
                                    int partitions, double timeout_s)
{
    double until = h_now() + timeout_s;
    long long left = -1;
    while (h_now() < until) {
        left = h_uncommitted(bootstrap, group, topic, partitions);
        if (left == 0) return;
        h_sleep_ms(200);
    }
    cr_assert_fail("%lld records still uncommitted after %.0f s", left, timeout_s);
}

/* ---- Redis ---- */

static inline redisContext *h_redis(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err, "redis on port %d: %s", port, c ? c->errstr : "no memory");
    return c;
}

static inline long long h_redis_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis: %s", c->errstr);
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                  : -1;
    freeReplyObject(r);
    return v;
}

/* Returns a malloc'ed copy of HGET key field, or NULL. */
static inline char *h_redis_hget(redisContext *c, const char *key, const char *field)
{
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    cr_assert_not_null(r);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

/* Deletes every key of prefix (a test's leftovers from an earlier run). */
static inline void h_redis_clean(redisContext *c, const char *prefix)
{
    freeReplyObject(redisCommand(c, "EVAL %s 0 %s",
                                 "for _,k in ipairs(redis.call('KEYS', ARGV[1]..'*')) do "
                                 "redis.call('DEL', k) end return 1",
                                 prefix));
}

/* Copies the members of P{tuid}:w:type ("hb" or "gw"), FROM:TO in from order,
 * joined by spaces, into out. */
static inline void h_windows(redisContext *c, const char *prefix, const char *tuid,
                             const char *type, char *out, size_t cap)
{
    redisReply *r = redisCommand(c, "ZRANGE %s{%s}:w:%s 0 -1", prefix, tuid, type);
    cr_assert_not_null(r);
    out[0] = 0;
    for (size_t i = 0; i < r->elements; i++) {
        strncat(out, r->element[i]->str, cap - strlen(out) - 2);
        if (i + 1 < r->elements) strcat(out, " ");
    }
    freeReplyObject(r);
}

/* Returns the number of windows stored under prefix, of every thing and type
 * (what opened, whoever it was for). */
static inline long long h_windows_total(redisContext *c, const char *prefix)
{
    redisReply *r = redisCommand(c, "EVAL %s 0 %s",
                                 "local n = 0 for _,k in ipairs(redis.call('KEYS', "
                                 "ARGV[1]..'{*}:w:*')) do n = n + redis.call('ZCARD', k) end "
                                 "return n",
                                 prefix);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "counting windows failed");
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* ---- the alerts topic ---- */

/* Reads every event of topic (partitions 0..partitions-1) from the beginning
 * until none came for 2 s; copies each payload into events. Returns their
 * number. */
static inline int h_read_alerts(const char *bootstrap, const char *topic, int partitions,
                                char events[][192], int max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "alert-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    double idle_until = h_now() + 3;
    while (h_now() < idle_until && n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) continue;
        if (!m->err) {
            snprintf(events[n++], 192, "%.*s", (int)m->len, (const char *)m->payload);
            idle_until = h_now() + 2;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_destroy(rk);
    return n;
}

/* Returns the partition of key among partitions, as the producer's default
 * partitioner (consistent_random: CRC32 of the key) and tsmd compute it. */
static inline int h_key_partition(const char *key, int partitions)
{
    return rd_kafka_msg_partitioner_consistent(NULL, key, strlen(key), partitions, NULL, NULL);
}

/* ---- tsmd ---- */

typedef struct h_tsmd_s {
    h_proc_t proc;
    int http_port;
    char prefix[64];
} h_tsmd_t;

/* Starts tsmd with the broker, the test Redis and a prefix; extra is a NULL
 * terminated list of further "--set" values. */
static inline void h_tsmd_start(h_tsmd_t *t, const char *bootstrap, int redis_port,
                                const char *prefix, const char *log, const char *const *extra)
{
    char exe[512], brokers[600], rport[64], pfx[128], listen[64];
    snprintf(exe, sizeof exe, "%s/engine/tsmd", h_bin_dir());
    snprintf(brokers, sizeof brokers, "kafka.brokers=%s", bootstrap);
    snprintf(rport, sizeof rport, "redis.port=%d", redis_port);
    snprintf(pfx, sizeof pfx, "redis.prefix=%s", prefix);
    if (t->http_port == 0) t->http_port = h_free_port();
    snprintf(listen, sizeof listen, "http.listen=127.0.0.1:%d", t->http_port);
    snprintf(t->prefix, sizeof t->prefix, "%s", prefix);
    char *argv[64] = {exe, "--set", brokers, "--set", rport, "--set", pfx, "--set", listen};
    int n = 9;
    for (int i = 0; extra && extra[i] && n < 60; i++) {
        argv[n++] = "--set";
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    t->proc = h_spawn(argv, 0, 0, log);
}

/* One HTTP/1.1 request; returns the status and copies the body into body. */
static inline int h_http(int port, const char *method, const char *path, const char *headers,
                         const char *body, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[8192];
    int n = snprintf(
        req, sizeof req,
        "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s", method,
        path, headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    static char resp[1 << 20];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof resp - 1 && (k = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)k;
    close(fd);
    resp[got] = 0;
    int status = 0;
    if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) return -1;
    const char *b = strstr(resp, "\r\n\r\n");
    if (out) snprintf(out, cap, "%s", b ? b + 4 : "");
    return status;
}

static inline double h_metric(h_tsmd_t *t, const char *name_and_labels);

/* Waits until /readyz answers 200: the API can answer. */
static inline void h_tsmd_wait_api(h_tsmd_t *t, double timeout_s)
{
    double until = h_now() + timeout_s;
    while (h_now() < until) {
        if (h_http(t->http_port, "GET", "/readyz", NULL, NULL, NULL, 0) == 200) return;
        h_sleep_ms(100);
    }
    cr_assert_fail("tsmd not ready after %.0f s (log: %s)", timeout_s, t->proc.log);
}

/* Waits until the API answers and the consumer has partitions, none of them
 * still restoring: what the tests mean by a started instance. */
static inline void h_tsmd_wait_ready(h_tsmd_t *t, double timeout_s)
{
    double until = h_now() + timeout_s;
    h_tsmd_wait_api(t, timeout_s);
    while (h_now() < until) {
        if (h_metric(t, "tsmd_kafka_assigned_partitions") > 0 &&
            h_metric(t, "tsmd_kafka_partitions_restoring") == 0)
            return;
        h_sleep_ms(100);
    }
    cr_assert_fail("tsmd has no partitions after %.0f s (log: %s)", timeout_s, t->proc.log);
}

/* Returns the value of a metric line "name{labels} value" (first match) from
 * /metrics, or -1. */
static inline double h_metric(h_tsmd_t *t, const char *name_and_labels)
{
    static char body[1 << 20];
    if (h_http(t->http_port, "GET", "/metrics", NULL, NULL, body, sizeof body) != 200) return -1;
    size_t n = strlen(name_and_labels);
    for (char *line = body; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : 0)
        if (strncmp(line, name_and_labels, n) == 0 && line[n] == ' ') return atof(line + n + 1);
    return -1;
}

/* Returns the sum of every series of a metric ("name{" prefix) from /metrics,
 * or -1 when /metrics did not answer. */
static inline double h_metric_sum(h_tsmd_t *t, const char *name)
{
    static char body[1 << 20];
    if (h_http(t->http_port, "GET", "/metrics", NULL, NULL, body, sizeof body) != 200) return -1;
    size_t n = strlen(name);
    double sum = 0;
    for (char *line = body; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : 0) {
        if (strncmp(line, name, n) != 0 || (line[n] != '{' && line[n] != ' ')) continue;
        char *sp = strchr(line, ' ');
        if (sp) sum += atof(sp + 1);
    }
    return sum;
}

/* A "Name:  N kB" line of /proc/PID/status (field "VmRSS:"), in KiB, or -1. */
static inline long h_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) kb = atol(line + n);
    if (f) fclose(f);
    return kb;
}

/* Peak resident memory of a process in KiB (VmHWM), or -1. */
static inline long h_peak_rss_kb(pid_t pid)
{
    return h_status_kb(pid, "VmHWM:");
}

/* Resident memory of a process now in KiB (VmRSS), or -1. */
static inline long h_rss_kb(pid_t pid)
{
    return h_status_kb(pid, "VmRSS:");
}

#endif
