/* bench_broker.c - tsm-broker: librdkafka's mock Kafka cluster in its own
 * process, with a line-oriented control channel for fault injection.
 *
 * tsmd, tsm-sim, bench_consume and kcat talk to it over TCP like to a real
 * broker. It is what scripts/test, scripts/bench and scripts/faults start.
 *
 * Protocol: the first stdout line is the bootstrap list ("127.0.0.1:p1,...").
 * Then every command line read on stdin (or on the --control FIFO) gets one
 * reply line on stdout: "ok" or "err <why>". Commands:
 *   down BROKERID|all            rd_kafka_mock_broker_set_down
 *   up BROKERID|all              rd_kafka_mock_broker_set_up
 *   leader TOPIC PARTITION BROKERID
 *   coordinator group|transaction KEY BROKERID
 *   push-errors APIKEY COUNT ERRCODE   (APIKEY a number or a name such as
 *                                       OffsetCommit; ERRCODE a number or a
 *                                       name such as REBALANCE_IN_PROGRESS)
 *   clear-errors APIKEY
 *   rtt BROKERID|all MS
 *   create-topic TOPIC PARTITIONS
 *   bootstrap                    replies "ok <bootstrap list>"
 *   ping                         replies "ok"
 *   quit                         replies "ok" and exits 0
 * Known limits of the mock (librdkafka 2.0.2), measured: a partition keeps
 * only 5 MB of log, about 29k tsm-sim messages (older batches vanish: size
 * loads with more partitions, or stream at a rate the consumer follows);
 * topics not given here are auto-created with 4 partitions; no SSL or SASL;
 * brokers listen on 127.0.0.1 on ephemeral ports; the mock thread may take
 * up to 1 s to act on a command while no client is connected. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "engine/base/log.h"

#define BROKER_LINE_MAX 1024

typedef struct broker_input_s {
    int fd;
    size_t len;
    char buf[BROKER_LINE_MAX];
} broker_input_t;

typedef struct broker_s {
    int brokers;
    int partitions;
    const char *topics;
    const char *bootstrap_file;
    const char *control_path;
    bool created_fifo;
    bool use_stdin;
    bool quit;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    broker_input_t in[2]; /* stdin, control FIFO */
} broker_t;

/* The signal handler's only job is to wake poll(); this pipe is the one
 * piece of process-wide state, as signals are process-wide. */
static int broker_sig_pipe[2] = {-1, -1};

static void broker_on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(broker_sig_pipe[1], &c, 1) < 0) {
        /* Nothing to do: the pipe is full, so a wake-up is pending. */
    }
    errno = saved;
}

static void broker_usage(FILE *out)
{
    fprintf(out,
            "usage: tsm-broker [options]\n"
            "  Runs librdkafka's mock Kafka cluster; prints its bootstrap list as the\n"
            "  first stdout line, then answers control commands (one per line on stdin\n"
            "  or on the --control FIFO) with 'ok' or 'err <why>' on stdout.\n"
            "options:\n"
            "  --brokers N            brokers in the cluster, ids 1..N (default 1)\n"
            "  --partitions N         partitions per topic (default 8)\n"
            "  --topics a,b,c         topics to create (default tsm.raw,tsm.commands,tsm.alerts)\n"
            "  --bootstrap-file PATH  write the bootstrap list there (tmp + rename) when ready;\n"
            "                         removed at start and at exit\n"
            "  --control PATH         also read commands from this FIFO (created if missing)\n"
            "  --no-stdin             ignore stdin (run in the background; stop with SIGTERM)\n"
            "  --help                 this text\n"
            "commands: down ID|all, up ID|all, leader TOPIC PART ID,\n"
            "  coordinator group|transaction KEY ID, push-errors APIKEY COUNT ERRCODE,\n"
            "  clear-errors APIKEY, rtt ID|all MS, create-topic TOPIC PARTS, bootstrap,\n"
            "  ping, quit\n"
            "Exits 0 on quit, SIGTERM, SIGINT or stdin EOF (unless --no-stdin).\n"
            "Mock limits: 5 MB of log per partition (~29k tsm-sim messages; older ones\n"
            "vanish), unknown topics auto-created with 4 partitions, no SSL/SASL.\n");
}

static bool broker_parse_int(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

static int broker_parse_args(broker_t *broker, int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, 0, 'b'}, {"partitions", required_argument, 0, 'p'},
        {"topics", required_argument, 0, 't'},  {"bootstrap-file", required_argument, 0, 'f'},
        {"control", required_argument, 0, 'c'}, {"no-stdin", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!broker_parse_int(optarg, 1, 64, &v)) goto bad;
            broker->brokers = (int)v;
            break;
        case 'p':
            if (!broker_parse_int(optarg, 1, 100000, &v)) goto bad;
            broker->partitions = (int)v;
            break;
        case 't':
            broker->topics = optarg;
            break;
        case 'f':
            broker->bootstrap_file = optarg;
            break;
        case 'c':
            broker->control_path = optarg;
            break;
        case 'n':
            broker->use_stdin = false;
            break;
        case 'h':
            broker_usage(stdout);
            exit(0);
        default:
            broker_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tsm-broker: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "tsm-broker: bad option value '%s'\n", optarg);
    return -1;
}

static void broker_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void broker_reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Kafka protocol ApiKeys by name, for push-errors and clear-errors. */
static const struct {
    const char *name;
    int key;
} broker_apikeys[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"EndTxn", 26},
};

static bool broker_parse_apikey(const char *s, int16_t *out)
{
    long v;
    if (broker_parse_int(s, 0, 1000, &v)) {
        *out = (int16_t)v;
        return true;
    }
    for (size_t i = 0; i < sizeof(broker_apikeys) / sizeof(broker_apikeys[0]); i++) {
        if (strcasecmp(s, broker_apikeys[i].name) == 0) {
            *out = (int16_t)broker_apikeys[i].key;
            return true;
        }
    }
    return false;
}

/* Accepts a number (Kafka protocol error code, or a negative librdkafka
 * local code) or a name as rd_kafka_err2name() spells it, with or without
 * the RD_KAFKA_RESP_ERR_ prefix. */
static bool broker_parse_errcode(const char *s, rd_kafka_resp_err_t *out)
{
    long v;
    if (broker_parse_int(s, -200, 1000, &v)) {
        *out = (rd_kafka_resp_err_t)v;
        return true;
    }
    if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0) s += 18;
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (descs[i].name != NULL && strcasecmp(descs[i].name, s) == 0) {
            *out = descs[i].code;
            return true;
        }
    }
    return false;
}

/* Parses a broker id or "all" (returned as 0). */
static bool broker_parse_id(const broker_t *broker, const char *s, int32_t *out)
{
    long v;
    if (strcmp(s, "all") == 0) {
        *out = 0;
        return true;
    }
    if (!broker_parse_int(s, 1, broker->brokers, &v)) return false;
    *out = (int32_t)v;
    return true;
}

typedef rd_kafka_resp_err_t (*broker_id_fn)(rd_kafka_mock_cluster_t *, int32_t, int);

static rd_kafka_resp_err_t broker_down_fn(rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
    (void)unused;
    return rd_kafka_mock_broker_set_down(mc, id);
}

static rd_kafka_resp_err_t broker_up_fn(rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
    (void)unused;
    return rd_kafka_mock_broker_set_up(mc, id);
}

/* Applies fn to one broker, or to every broker for id 0 ("all"). */
static void broker_each(broker_t *broker, int32_t id, broker_id_fn fn, int arg)
{
    for (int32_t b = id ? id : 1; b <= (id ? id : broker->brokers); b++) {
        rd_kafka_resp_err_t err = fn(broker->mcluster, b, arg);
        if (err) {
            broker_reply("err broker %d: %s", (int)b, rd_kafka_err2str(err));
            return;
        }
    }
    broker_reply("ok");
}

static void broker_cmd_push_errors(broker_t *broker, char **argv, int argc)
{
    int16_t apikey;
    long cnt;
    rd_kafka_resp_err_t err;
    if (argc != 4) {
        broker_reply("err usage: push-errors APIKEY COUNT ERRCODE");
    } else if (!broker_parse_apikey(argv[1], &apikey)) {
        broker_reply("err unknown ApiKey '%s'", argv[1]);
    } else if (!broker_parse_int(argv[2], 1, 100000, &cnt)) {
        broker_reply("err bad count '%s'", argv[2]);
    } else if (!broker_parse_errcode(argv[3], &err)) {
        broker_reply("err unknown error code '%s'", argv[3]);
    } else {
        rd_kafka_resp_err_t *errs = eng_malloc(sizeof(*errs) * (size_t)cnt);
        for (long i = 0; i < cnt; i++)
            errs[i] = err;
        rd_kafka_mock_push_request_errors_array(broker->mcluster, apikey, (size_t)cnt, errs);
        free(errs);
        ENG_INFO("errors pushed", " apikey=%d count=%ld err=%s", (int)apikey, cnt,
                 rd_kafka_err2name(err));
        broker_reply("ok");
    }
}

static void broker_cmd_leader(broker_t *broker, char **argv, int argc)
{
    long part;
    int32_t id;
    if (argc != 4) {
        broker_reply("err usage: leader TOPIC PARTITION BROKERID");
    } else if (!broker_parse_int(argv[2], 0, 1000000, &part)) {
        broker_reply("err bad partition '%s'", argv[2]);
    } else if (!broker_parse_id(broker, argv[3], &id) || id == 0) {
        broker_reply("err bad broker id '%s'", argv[3]);
    } else {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_partition_set_leader(broker->mcluster, argv[1], (int32_t)part, id);
        if (err)
            broker_reply("err %s", rd_kafka_err2str(err));
        else
            broker_reply("ok");
    }
}

static void broker_cmd_coordinator(broker_t *broker, char **argv, int argc)
{
    int32_t id;
    if (argc != 4 || (strcmp(argv[1], "group") != 0 && strcmp(argv[1], "transaction") != 0)) {
        broker_reply("err usage: coordinator group|transaction KEY BROKERID");
    } else if (!broker_parse_id(broker, argv[3], &id) || id == 0) {
        broker_reply("err bad broker id '%s'", argv[3]);
    } else {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_coordinator_set(broker->mcluster, argv[1], argv[2], id);
        if (err)
            broker_reply("err %s", rd_kafka_err2str(err));
        else
            broker_reply("ok");
    }
}

static void broker_cmd_misc(broker_t *broker, char **argv, int argc)
{
    const char *cmd = argv[0];
    int32_t id;
    long v;
    int16_t apikey;
    if (strcmp(cmd, "rtt") == 0) {
        if (argc != 3 || !broker_parse_id(broker, argv[1], &id) ||
            !broker_parse_int(argv[2], 0, 3600000, &v))
            broker_reply("err usage: rtt BROKERID|all MS");
        else
            broker_each(broker, id, rd_kafka_mock_broker_set_rtt, (int)v);
    } else if (strcmp(cmd, "clear-errors") == 0) {
        if (argc != 2 || !broker_parse_apikey(argv[1], &apikey)) {
            broker_reply("err usage: clear-errors APIKEY");
        } else {
            rd_kafka_mock_clear_request_errors(broker->mcluster, apikey);
            broker_reply("ok");
        }
    } else if (strcmp(cmd, "create-topic") == 0) {
        if (argc != 3 || !broker_parse_int(argv[2], 1, 100000, &v)) {
            broker_reply("err usage: create-topic TOPIC PARTITIONS");
        } else {
            rd_kafka_resp_err_t err =
                rd_kafka_mock_topic_create(broker->mcluster, argv[1], (int)v, 1);
            if (err)
                broker_reply("err %s", rd_kafka_err2str(err));
            else
                broker_reply("ok");
        }
    } else if (strcmp(cmd, "bootstrap") == 0) {
        broker_reply("ok %s", rd_kafka_mock_cluster_bootstraps(broker->mcluster));
    } else if (strcmp(cmd, "ping") == 0) {
        broker_reply("ok");
    } else if (strcmp(cmd, "quit") == 0) {
        broker->quit = true;
        broker_reply("ok");
    } else {
        broker_reply("err unknown command '%s'", cmd);
    }
}

/* Runs one command line and writes exactly one reply line. */
static void broker_command(broker_t *broker, char *line)
{
    char *argv[8];
    int argc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL && argc < 8;
         tok = strtok_r(NULL, " \t\r", &save))
        argv[argc++] = tok;
    if (argc == 0) return; /* Blank lines get no reply: nothing was asked. */
    ENG_DEBUG("command", " cmd=%s argc=%d", argv[0], argc);
    int32_t id;
    if (strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) {
        bool down = argv[0][0] == 'd';
        if (argc != 2 || !broker_parse_id(broker, argv[1], &id)) {
            broker_reply("err usage: %s BROKERID|all (1..%d)", argv[0], broker->brokers);
            return;
        }
        ENG_INFO(down ? "broker down" : "broker up", " broker=%s", argv[1]);
        broker_each(broker, id, down ? broker_down_fn : broker_up_fn, 0);
    } else if (strcmp(argv[0], "leader") == 0) {
        broker_cmd_leader(broker, argv, argc);
    } else if (strcmp(argv[0], "coordinator") == 0) {
        broker_cmd_coordinator(broker, argv, argc);
    } else if (strcmp(argv[0], "push-errors") == 0) {
        broker_cmd_push_errors(broker, argv, argc);
    } else {
        broker_cmd_misc(broker, argv, argc);
    }
}

/* Reads what is available on one input and runs each complete line.
 * Returns false on EOF or a read error. */
static bool broker_input_read(broker_t *broker, broker_input_t *in)
{
    ssize_t n = read(in->fd, in->buf + in->len, sizeof(in->buf) - 1 - in->len);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    in->len += (size_t)n;
    char *start = in->buf;
    char *nl;
    while (!broker->quit && (nl = memchr(start, '\n', in->len - (size_t)(start - in->buf)))) {
        *nl = '\0';
        broker_command(broker, start);
        start = nl + 1;
    }
    in->len -= (size_t)(start - in->buf);
    memmove(in->buf, start, in->len);
    if (in->len == sizeof(in->buf) - 1) {
        broker_reply("err line too long");
        in->len = 0;
    }
    return true;
}

static int broker_write_bootstrap_file(const char *path, const char *bootstraps)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return -1;
    bool ok = fprintf(f, "%s\n", bootstraps) > 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int broker_create_topics(broker_t *broker)
{
    char *list = eng_strdup(broker->topics);
    char *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(broker->mcluster, t, broker->partitions, 1);
        if (err) {
            ENG_ERROR("topic create failed", " topic=%s err=\"%s\"", t, rd_kafka_err2str(err));
            rc = -1;
            break;
        }
    }
    free(list);
    return rc;
}

static int broker_start(broker_t *broker)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only hosts the mock cluster; it never produces, so its
     * "no bootstrap.servers" notice is silenced. */
    if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        ENG_ERROR("config failed", " err=\"%s\"", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    broker->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (broker->rk == NULL) {
        ENG_ERROR("rd_kafka_new failed", " err=\"%s\"", errstr);
        return -1;
    }
    broker->mcluster = rd_kafka_mock_cluster_new(broker->rk, broker->brokers);
    if (broker->mcluster == NULL) {
        ENG_ERROR("mock cluster failed", "%s", "");
        goto fail_cluster;
    }
    if (broker_create_topics(broker) != 0) goto fail_topics;
    return 0;
fail_topics:
    rd_kafka_mock_cluster_destroy(broker->mcluster);
fail_cluster:
    rd_kafka_destroy(broker->rk);
    return -1;
}

static int broker_open_control(broker_t *broker)
{
    struct stat st;
    if (stat(broker->control_path, &st) != 0) {
        if (mkfifo(broker->control_path, 0600) != 0) {
            ENG_ERROR("mkfifo failed", " path=%s err=\"%s\"", broker->control_path,
                      strerror(errno));
            return -1;
        }
        broker->created_fifo = true;
    } else if (!S_ISFIFO(st.st_mode)) {
        ENG_ERROR("control path is not a FIFO", " path=%s", broker->control_path);
        return -1;
    }
    /* O_RDWR keeps a writer open ourselves, so that a writer closing the FIFO
     * does not turn into an endless EOF. */
    broker->in[1].fd = open(broker->control_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (broker->in[1].fd < 0) {
        ENG_ERROR("control open failed", " path=%s err=\"%s\"", broker->control_path,
                  strerror(errno));
        return -1;
    }
    return 0;
}

static void broker_loop(broker_t *broker)
{
    while (!broker->quit) {
        struct pollfd pfd[3];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = broker_sig_pipe[0], .events = POLLIN};
        for (int i = 0; i < 2; i++)
            if (broker->in[i].fd >= 0)
                pfd[n++] = (struct pollfd){.fd = broker->in[i].fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            ENG_ERROR("poll failed", " err=\"%s\"", strerror(errno));
            return;
        }
        if (pfd[0].revents) {
            unsigned char sig = 0;
            if (read(broker_sig_pipe[0], &sig, 1) == 1)
                ENG_INFO("signal, stopping", " signal=%d", (int)sig);
            return;
        }
        for (int i = 1; i < n; i++) {
            if (!pfd[i].revents) continue;
            broker_input_t *in = pfd[i].fd == broker->in[0].fd ? &broker->in[0] : &broker->in[1];
            if (!broker_input_read(broker, in) && in == &broker->in[0]) {
                ENG_INFO("stdin closed, stopping", "%s", "");
                return;
            }
        }
    }
}

static int broker_setup_signals(void)
{
    if (pipe2(broker_sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = broker_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int main(int argc, char **argv)
{
    broker_t broker = {
        .brokers = 1,
        .partitions = 8,
        .topics = "tsm.raw,tsm.commands,tsm.alerts",
        .use_stdin = true,
        .in = {{.fd = -1}, {.fd = -1}},
    };
    const char *lvl = getenv("TSMD_LOG_LEVEL");
    if (lvl != NULL && strcmp(lvl, "debug") == 0) eng_log_min = ENG_LOG_DEBUG;
    if (broker_parse_args(&broker, argc, argv) != 0) return 2;
    if (broker_setup_signals() != 0) return 1;
    if (broker.use_stdin) broker.in[0].fd = STDIN_FILENO;
    if (broker.control_path != NULL && broker_open_control(&broker) != 0) return 1;
    /* A bootstrap file left by an earlier run would send waiting readers to
     * a dead port: it exists only while this broker runs. */
    if (broker.bootstrap_file != NULL) unlink(broker.bootstrap_file);
    if (broker_start(&broker) != 0) return 1;

    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(broker.mcluster);
    /* The file first, then the first stdout line: whoever saw the line can
     * rely on the file. */
    if (broker.bootstrap_file != NULL &&
        broker_write_bootstrap_file(broker.bootstrap_file, bootstraps) != 0) {
        ENG_ERROR("bootstrap file write failed", " path=%s err=\"%s\"", broker.bootstrap_file,
                  strerror(errno));
        broker.quit = true;
    }
    broker_reply("%s", bootstraps);
    ENG_INFO("mock kafka ready", " bootstrap=%s brokers=%d partitions=%d topics=%s", bootstraps,
             broker.brokers, broker.partitions, broker.topics);
    int rc = broker.quit ? 1 : 0;
    broker_loop(&broker);

    rd_kafka_mock_cluster_destroy(broker.mcluster);
    rd_kafka_destroy(broker.rk);
    if (broker.in[1].fd >= 0) close(broker.in[1].fd);
    if (broker.created_fifo) unlink(broker.control_path);
    if (broker.bootstrap_file != NULL) unlink(broker.bootstrap_file);
    ENG_INFO("mock kafka stopped", "%s", "");
    return rc;
}
