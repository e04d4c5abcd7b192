/* test_sim_broker.c - integration test of the Kafka-side tools that every
 * other integration, fault and bench run relies on: tsm-broker (mock
 * cluster in its own process, control channel) and tsm-sim (seeded fleet).
 *
 * Binaries: $TSMD_BIN_DIR/bench/tsm-broker and $TSMD_BIN_DIR/bench/tsm-sim,
 * where TSMD_BIN_DIR is the build directory (scripts/test exports it). When
 * it is unset, the build directory is the parent of the directory holding
 * this test executable (<build>/tests/integration_test_sim_broker).
 * Needs no servers: each test starts its own tsm-broker. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "proto/msg.h"

#define PARTS 4
#define NMSG "10000"

typedef struct rec_s {
    char *key, *val;
    size_t key_len, val_len;
    int64_t ts;
} rec_t;

typedef struct part_s {
    rec_t *recs;
    size_t n, cap;
} part_t;

typedef struct broker_proc_s {
    pid_t pid;
    FILE *in, *out;
    char bootstrap[512];
} broker_proc_t;

typedef struct fixture_s {
    char dir[64];
    char bin[PATH_MAX - 64];
    broker_proc_t broker;
} fixture_t;

static fixture_t fx;

static void bin_dir(char *out, size_t size)
{
    const char *env = getenv("TSMD_BIN_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, size, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    cr_assert(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
    exe[n] = '\0';
    snprintf(out, size, "%s", dirname(dirname(exe)));
}

static void tool_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/bench/%s", fx.bin, name);
    cr_assert(access(out, X_OK) == 0, "%s is not an executable (set TSMD_BIN_DIR to the build dir)",
              out);
}

static void broker_start_args(broker_proc_t *b, const char *const *extra);

static void broker_start(broker_proc_t *b, const char *topics)
{
    const char *extra[] = {"--topics", topics, NULL};
    broker_start_args(b, extra);
}

/* Starts tsm-broker with --partitions 4 and extra arguments, its stdin and
 * stdout on pipes, and reads the bootstrap line. */
static void broker_start_args(broker_proc_t *b, const char *const *extra)
{
    char path[PATH_MAX];
    tool_path(path, sizeof(path), "tsm-broker");
    int to_child[2], from_child[2];
    cr_assert(pipe(to_child) == 0 && pipe(from_child) == 0);
    b->pid = fork();
    cr_assert(b->pid >= 0);
    if (b->pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        const char *argv[16] = {path, "--partitions", "4"};
        for (int i = 0; extra[i] != NULL && i < 12; i++)
            argv[3 + i] = extra[i];
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    b->in = fdopen(to_child[1], "w");
    b->out = fdopen(from_child[0], "r");
    cr_assert(fgets(b->bootstrap, sizeof(b->bootstrap), b->out) != NULL,
              "tsm-broker printed no bootstrap line");
    b->bootstrap[strcspn(b->bootstrap, "\n")] = '\0';
    cr_assert(strncmp(b->bootstrap, "127.0.0.1:", 10) == 0, "bootstrap line: '%s'", b->bootstrap);
}

/* Sends one command line and returns the reply line (static buffer). */
static const char *broker_cmd(broker_proc_t *b, const char *cmd)
{
    static char reply[512];
    fprintf(b->in, "%s\n", cmd);
    fflush(b->in);
    cr_assert(fgets(reply, sizeof(reply), b->out) != NULL, "no reply to '%s'", cmd);
    reply[strcspn(reply, "\n")] = '\0';
    return reply;
}

/* Closes stdin (which stops tsm-broker) and returns its exit status. */
static int broker_stop(broker_proc_t *b)
{
    int status = 0;
    if (b->in) fclose(b->in);
    if (b->out) fclose(b->out);
    b->in = b->out = NULL;
    if (b->pid <= 0) return 0;
    for (int i = 0; i < 100 && waitpid(b->pid, &status, WNOHANG) == 0; i++)
        usleep(50000);
    if (waitpid(b->pid, &status, WNOHANG) == 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, &status, 0);
    }
    b->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/tsm-simtest-XXXXXX");
    cr_assert(mkdtemp(fx.dir) != NULL);
    bin_dir(fx.bin, sizeof(fx.bin));
}

static void teardown(void)
{
    broker_stop(&fx.broker);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
    if (system(cmd) != 0) {
        /* A leftover temp dir is harmless. */
    }
}

/* Runs tsm-sim with the given arguments (NULL-terminated) plus the fixed
 * fleet options; returns its exit status. */
static int sim_run(const char *const *extra)
{
    char path[PATH_MAX];
    tool_path(path, sizeof(path), "tsm-sim");
    const char *argv[40] = {path, "--messages",      NMSG, "--sensors",  "300", "--gateways",
                            "10", "--sensor-period", "60", "--bad-frac", "0.01"};
    int argc = 11;
    for (int i = 0; extra[i] != NULL && argc < 39; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    int status;
    cr_assert(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *dup_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    cr_assert(s != NULL);
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Reads every record of topic (PARTS partitions) up to the high watermarks. */
static void topic_read(const char *topic, part_t parts[PARTS])
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert(rd_kafka_conf_set(conf, "bootstrap.servers", fx.broker.bootstrap, err, sizeof(err)) ==
              RD_KAFKA_CONF_OK);
    cr_assert(rd_kafka_conf_set(conf, "group.id", "test_sim_broker", err, sizeof(err)) == 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    cr_assert(rk != NULL, "%s", err);
    rd_kafka_poll_set_consumer(rk);
    int64_t high[PARTS], left = 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++) {
        int64_t low;
        cr_assert(rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high[p], 10000) == 0);
        cr_assert_eq(low, 0, "partition %d starts at %ld: the mock dropped records", p, (long)low);
        left += high[p];
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        memset(&parts[p], 0, sizeof(parts[p]));
    }
    cr_assert(rd_kafka_assign(rk, list) == 0);
    rd_kafka_topic_partition_list_destroy(list);
    for (int idle = 0; left > 0 && idle < 100;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            idle++;
            continue;
        }
        idle = 0;
        cr_assert(m->err == 0, "consume: %s", rd_kafka_message_errstr(m));
        part_t *pt = &parts[m->partition];
        if (pt->n == pt->cap) {
            pt->cap = pt->cap ? pt->cap * 2 : 1024;
            pt->recs = realloc(pt->recs, pt->cap * sizeof(rec_t));
        }
        cr_assert_eq(m->offset, (int64_t)pt->n, "offsets are dense from 0");
        pt->recs[pt->n++] = (rec_t){dup_bytes(m->key, m->key_len), dup_bytes(m->payload, m->len),
                                    m->key_len, m->len, rd_kafka_message_timestamp(m, NULL)};
        rd_kafka_message_destroy(m);
        left--;
    }
    cr_assert_eq(left, 0, "%ld records of %s never arrived", (long)left, topic);
    rd_kafka_destroy(rk);
}

static void parts_free(part_t parts[PARTS])
{
    for (int p = 0; p < PARTS; p++) {
        for (size_t i = 0; i < parts[p].n; i++) {
            free(parts[p].recs[i].key);
            free(parts[p].recs[i].val);
        }
        free(parts[p].recs);
    }
}

static bool rec_equal(const rec_t *a, const rec_t *b)
{
    return a->key_len == b->key_len && a->val_len == b->val_len && a->ts == b->ts &&
           memcmp(a->key, b->key, a->key_len) == 0 && memcmp(a->val, b->val, a->val_len) == 0;
}

/* Returns true when both topics hold the same records in the same order in
 * every partition. */
static bool parts_equal(part_t a[PARTS], part_t b[PARTS])
{
    for (int p = 0; p < PARTS; p++) {
        if (a[p].n != b[p].n) return false;
        for (size_t i = 0; i < a[p].n; i++)
            if (!rec_equal(&a[p].recs[i], &b[p].recs[i])) return false;
    }
    return true;
}

static size_t parts_total(part_t parts[PARTS])
{
    size_t n = 0;
    for (int p = 0; p < PARTS; p++)
        n += parts[p].n;
    return n;
}

TestSuite(sim_broker, .init = setup, .fini = teardown, .timeout = 120);

Test(sim_broker, same_seed_gives_identical_records_per_partition)
{
    broker_start(&fx.broker, "sim.a,sim.b,sim.c");
    char bsfile[128];
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", fx.dir);
    FILE *f = fopen(bsfile, "w");
    cr_assert(f != NULL);
    fprintf(f, "%s\n", fx.broker.bootstrap);
    fclose(f);

    const char *run_a[] = {"--brokers", fx.broker.bootstrap, "--topic", "sim.a", "--seed", "42",
                           NULL};
    const char *run_b[] = {"--bootstrap-file", bsfile,  "--topic", "sim.b", "--seed", "42",
                           "--rate",           "50000", NULL};
    const char *run_c[] = {"--brokers", fx.broker.bootstrap, "--topic", "sim.c", "--seed", "43",
                           NULL};
    cr_assert_eq(sim_run(run_a), 0, "tsm-sim run A failed");
    cr_assert_eq(sim_run(run_b), 0, "tsm-sim run B failed");
    cr_assert_eq(sim_run(run_c), 0, "tsm-sim run C failed");

    part_t a[PARTS], b[PARTS], c[PARTS];
    topic_read("sim.a", a);
    topic_read("sim.b", b);
    topic_read("sim.c", c);
    cr_assert_geq(parts_total(a), 10000, "records: %zu", parts_total(a));
    for (int p = 0; p < PARTS; p++)
        cr_assert_gt(a[p].n, 0, "partition %d is empty", p);
    cr_assert(parts_equal(a, b), "same seed, different records");
    cr_assert(!parts_equal(a, c), "a different seed gave the same records");
    parts_free(a);
    parts_free(b);
    parts_free(c);
}

typedef struct key_check_s {
    const rec_t *rec;
    size_t valid, mismatched;
} key_check_t;

static void key_on_msg(void *arg, const proto_msg_t *msg)
{
    key_check_t *kc = arg;
    kc->valid++;
    if (kc->rec->key_len != msg->tuid_len || memcmp(kc->rec->key, msg->tuid, msg->tuid_len) != 0)
        kc->mismatched++;
}

static void key_on_reject(void *arg, proto_reason_t reason)
{
    (void)arg;
    (void)reason;
}

/* Counts the valid lines of a tsm-sim expect file. */
static size_t expect_valid(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "no expect file %s", path);
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#') continue;
        char *col = line;
        for (int i = 0; i < 12 && col; i++)
            col = strchr(col, '\t') ? strchr(col, '\t') + 1 : NULL;
        cr_assert(col != NULL, "short expect line: %s", line);
        n += col[0] == '1';
    }
    fclose(f);
    return n;
}

static void check_keys(const char *format)
{
    char topic[32], expect[128];
    snprintf(topic, sizeof(topic), "keys.%s", format);
    snprintf(expect, sizeof(expect), "%s/expect.%s.tsv", fx.dir, format);
    const char *run[] = {"--brokers", fx.broker.bootstrap, "--topic", topic, "--format",
                         format,      "--expect",          expect,    NULL};
    cr_assert_eq(sim_run(run), 0, "tsm-sim failed");
    part_t parts[PARTS];
    topic_read(topic, parts);
    proto_decoder_t *dec = proto_decoder_new();
    key_check_t kc = {0};
    proto_sink_t sink = {key_on_msg, key_on_reject, &kc};
    for (int p = 0; p < PARTS; p++)
        for (size_t i = 0; i < parts[p].n; i++) {
            kc.rec = &parts[p].recs[i];
            proto_decode(dec, kc.rec->val, kc.rec->val_len, kc.rec->ts, &sink);
        }
    proto_decoder_free(dec);
    cr_assert_geq(kc.valid, 9800, "%s: only %zu valid messages", format, kc.valid);
    cr_assert_eq(kc.mismatched, 0, "%s: %zu records keyed by another tuid", format, kc.mismatched);
    size_t want = expect_valid(expect);
    cr_assert_eq(kc.valid, want, "%s: decoded %zu valid messages, the expect file says %zu", format,
                 kc.valid, want);
    parts_free(parts);
}

Test(sim_broker, keys_equal_tsm_tuid_and_expect_file_counts_valid_messages)
{
    broker_start(&fx.broker, "keys.json,keys.msgpack");
    check_keys("json");
    check_keys("msgpack");
}

Test(sim_broker, control_commands_answer_ok_or_err)
{
    broker_start(&fx.broker, "ctl");
    cr_assert_str_eq(broker_cmd(&fx.broker, "down 1"), "ok");
    cr_assert_str_eq(broker_cmd(&fx.broker, "up 1"), "ok");
    cr_assert_str_eq(broker_cmd(&fx.broker, "leader ctl 0 1"), "ok");
    cr_assert_str_eq(broker_cmd(&fx.broker, "coordinator group tsmd 1"), "ok");
    cr_assert_str_eq(broker_cmd(&fx.broker, "rtt 1 0"), "ok");
    cr_assert_str_eq(broker_cmd(&fx.broker, "push-errors OffsetCommit 2 REBALANCE_IN_PROGRESS"),
                     "ok");
    cr_assert_str_eq(broker_cmd(&fx.broker, "clear-errors 8"), "ok");
    cr_assert(strncmp(broker_cmd(&fx.broker, "down 7"), "err ", 4) == 0, "unknown broker id");
    cr_assert(strncmp(broker_cmd(&fx.broker, "frobnicate"), "err ", 4) == 0, "unknown command");
    /* The broker that went down and came back still takes records. */
    const char *run[] = {"--brokers", fx.broker.bootstrap, "--topic", "ctl", NULL};
    cr_assert_eq(sim_run(run), 0, "tsm-sim after down/up failed");
    cr_assert_str_eq(broker_cmd(&fx.broker, "quit"), "ok");
    cr_assert_eq(broker_stop(&fx.broker), 0, "tsm-broker exit status");
}

Test(sim_broker, fifo_commands_and_sigterm_stop_cleanly)
{
    char fifo[128], bsfile[128];
    snprintf(fifo, sizeof(fifo), "%s/control", fx.dir);
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", fx.dir);
    const char *extra[] = {"--no-stdin", "--control", fifo, "--bootstrap-file", bsfile, NULL};
    broker_start_args(&fx.broker, extra);
    char line[512] = "";
    FILE *f = fopen(bsfile, "r");
    cr_assert(f != NULL, "no bootstrap file once the first line is out");
    cr_assert(fgets(line, sizeof(line), f) != NULL);
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    cr_assert_str_eq(line, fx.broker.bootstrap);

    /* --no-stdin: closing stdin must not stop it; commands come by the FIFO
     * and the replies still go to stdout. */
    fclose(fx.broker.in);
    fx.broker.in = NULL;
    for (int i = 0; i < 2; i++) {
        FILE *ctl = fopen(fifo, "w");
        cr_assert(ctl != NULL, "cannot open the control FIFO");
        fputs(i == 0 ? "down all\n" : "up 1\n", ctl);
        fclose(ctl);
        cr_assert(fgets(line, sizeof(line), fx.broker.out) != NULL, "no reply from the FIFO");
        cr_assert_str_eq(line, "ok\n");
    }
    cr_assert_eq(kill(fx.broker.pid, SIGTERM), 0);
    int status;
    cr_assert_eq(waitpid(fx.broker.pid, &status, 0), fx.broker.pid);
    fx.broker.pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
    cr_assert(access(bsfile, F_OK) != 0, "the bootstrap file outlived the broker");
    cr_assert(access(fifo, F_OK) != 0, "the FIFO it created outlived the broker");
}
