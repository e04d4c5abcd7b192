/* table.c - the settings table: every setting tsmd has, one row each, with its
 * type, default, bounds and documentation, plus the checks that strings need
 * beyond their type. A new setting is a field in cfg_t and a row here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* inet_pton when built outside CMake */
#endif
#include "config/table.h"

#include "config/config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define MIB (1024 * 1024)
#define DAY 86400
#define YEAR (365 * DAY)
#define DECADE (10 * YEAR)
#define F(field) offsetof(cfg_t, field)

/* Returns true when s[0..len) is 1..max of A-Z a-z 0-9 and the bytes in extra. */
static int chars_ok(const char *s, size_t len, size_t max, const char *extra)
{
    if (len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (c == 0 || !strchr(extra, c))) return 0;
    }
    return 1;
}

/* Returns the port of "host:port" or "[v6]:port" in s[0..len), or -1 when the
 * text does not have that shape (the host is a name, an IPv4 or an IPv6). */
static long hostport_port(const char *s, size_t len)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    if (!colon) return -1;
    size_t hlen = (size_t)(colon - s), plen = len - hlen - 1;
    if (plen == 0 || plen > 5) return -1;
    for (size_t i = 0; i < plen; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9') return -1;
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        if (!chars_ok(s + 1, hlen - 2, 64, ":.%")) return -1;
    } else if (!chars_ok(s, hlen, 253, ".-_")) {
        return -1;
    }
    long port = 0;
    for (size_t i = 0; i < plen; i++)
        port = port * 10 + (colon[1 + i] - '0');
    return port;
}

int cfg_hostport_port(const char *s, size_t len)
{
    long port = hostport_port(s, len);
    return port > 65535 ? -1 : (int)port;
}

static int check_brokers(const char *v, char *why, size_t n)
{
    if (strcmp(v, "embedded") == 0) return 0;
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int port = cfg_hostport_port(p, len);
        if (port < 1) {
            snprintf(why, n, "is neither \"embedded\" nor a list of host:port (port 1..65535)");
            return -1;
        }
        if (!comma) return 0;
        p = comma + 1;
    }
}

static int check_topic_list(const char *v, char *why, size_t n)
{
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!chars_ok(p, len, 249, "._-")) {
            snprintf(why, n,
                     "is not a comma-separated list of Kafka topic names "
                     "(1..249 of A-Z a-z 0-9 . _ -)");
            return -1;
        }
        if (!comma) return 0;
        p = comma + 1;
    }
}

static int check_topic_opt(const char *v, char *why, size_t n)
{
    if (v[0] == 0 || chars_ok(v, strlen(v), 249, "._-")) return 0;
    snprintf(why, n, "is not a Kafka topic name (1..249 of A-Z a-z 0-9 . _ -) nor empty");
    return -1;
}

static int check_topic(const char *v, char *why, size_t n)
{
    if (chars_ok(v, strlen(v), 249, "._-")) return 0;
    snprintf(why, n, "is not a Kafka topic name (1..249 of A-Z a-z 0-9 . _ -)");
    return -1;
}

static int check_host(const char *v, char *why, size_t n)
{
    if (chars_ok(v, strlen(v), 253, ".-_:")) return 0;
    snprintf(why, n, "is not a host name or address");
    return -1;
}

/* The HTTP adapter binds without resolving names, so the host must be numeric. */
static int check_listen(const char *v, char *why, size_t n)
{
    char host[64];
    const char *colon = strrchr(v, ':');
    size_t hlen = colon ? (size_t)(colon - v) : 0;
    unsigned char addr[16];
    int ok = 0;
    if (hlen >= 3 && hlen - 2 < sizeof host && v[0] == '[') {
        memcpy(host, v + 1, hlen - 2);
        host[hlen - 2] = 0;
        ok = inet_pton(AF_INET6, host, addr) == 1;
    } else if (hlen > 0 && hlen < sizeof host) {
        memcpy(host, v, hlen);
        host[hlen] = 0;
        ok = inet_pton(AF_INET, host, addr) == 1;
    }
    if (ok) return 0;
    snprintf(why, n, "needs a numeric address: IPv4:port or [IPv6]:port");
    return -1;
}

static int check_base_path(const char *v, char *why, size_t n)
{
    size_t len = strlen(v);
    if (len == 0) return 0;
    if (v[0] != '/' || v[len - 1] == '/' || strstr(v, "//") ||
        !chars_ok(v, len, 256, "/-._~%!$&'()*+,;=:@")) {
        snprintf(why, n,
                 "must be empty or a path starting with '/', without a trailing '/', "
                 "'//', '?', '#' or white space");
        return -1;
    }
    return 0;
}

static int check_log_level(const char *v, char *why, size_t n)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(v, levels[i]) == 0) return 0;
    snprintf(why, n, "is not one of debug, info, warn, error");
    return -1;
}

static int check_redis_prefix(const char *v, char *why, size_t n)
{
    for (const char *p = v; *p; p++)
        if (*p == ' ' || *p == '\t') {
            snprintf(why, n, "must not contain white space");
            return -1;
        }
    return 0;
}

int cfg_check_client(const char *v, char *why, size_t n)
{
    if (v[0] == 0) return 0;
    const char *colon = strchr(v, ':');
    if (colon && colon != v && colon[1] != 0 && !strchr(v, ' ')) return 0;
    snprintf(why, n, "is not id:secret (both non-empty, no white space) nor empty");
    return -1;
}

/* alertmanager.url: 1..8 comma-separated http:// or https:// base URLs. */
static int check_am_urls(const char *v, char *why, size_t n)
{
    int count = 0;
    for (const char *p = v; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t scheme = strncmp(p, "http://", 7) == 0 ? 7 : strncmp(p, "https://", 8) == 0 ? 8 : 0;
        int bad = scheme == 0 || len <= scheme || p[scheme] == '/' || ++count > 8;
        for (size_t i = 0; i < len && !bad; i++)
            bad = p[i] <= ' ' || p[i] == '"' || p[i] == '?' || p[i] == '#' || p[i] == 0x7f;
        if (bad) {
            snprintf(why, n,
                     "is not empty nor 1 to 8 comma-separated http:// or https:// base URLs "
                     "(no query, no white space)");
            return -1;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int cfg_am_labels_check(const char *v, char *why, size_t n)
{
    static const char *const builtin[] = {"alertname", "tuid", "alert_type", "group", "gateway"};
    int count = 0;
    for (const char *p = v; *p;) {
        if (++count > 32) {
            snprintf(why, n, "has more than 32 labels");
            return -1;
        }
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : 0;
        if (!eq || !chars_ok(p, nlen, 128, "_") || (p[0] >= '0' && p[0] <= '9')) {
            snprintf(why, n, "\"%.*s\" is not name=value (name: A-Z a-z 0-9 _, not first a digit)",
                     (int)len, p);
            return -1;
        }
        for (size_t b = 0; b < sizeof builtin / sizeof builtin[0]; b++)
            if (strlen(builtin[b]) == nlen && memcmp(builtin[b], p, nlen) == 0) {
                snprintf(why, n, "names the built-in label %s, which a static label never replaces",
                         builtin[b]);
                return -1;
            }
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

/* clang-format off */
static const cfg_row_t rows[] = {
    {"kafka.brokers", CFG_STRING, F(kafka_brokers), 0, "embedded", 1, 4096, NULL, check_brokers,
     "`host:port,...` of the Kafka bootstrap brokers, or `embedded`: tsmd starts an "
     "in-process Kafka-protocol broker (librdkafka's mock cluster) with the raw, commands "
     "and alerts topics, for development and demos (nothing it holds survives a restart)."},
    {"kafka.topic", CFG_STRING, F(kafka_topic), 0, "tsm.raw", 1, 4096, NULL, check_topic_list,
     "Raw telemetry topic(s) to consume, comma-separated."},
    {"kafka.group_id", CFG_STRING, F(kafka_group_id), 0, "tsmd", 1, 255, NULL, NULL,
     "Kafka consumer group; instances with the same group share the partitions."},
    {"kafka.commands_topic", CFG_STRING, F(kafka_commands_topic), 0, "tsm.commands", 1, 249,
     NULL, check_topic, "Topic the commands API produces to, keyed by tuid."},
    {"kafka.alerts_topic", CFG_STRING, F(kafka_alerts_topic), 0, "tsm.alerts", 0, 249, NULL,
     check_topic_opt, "Topic of alert window open/close events, keyed by tuid; empty turns "
     "them off (the Redis channel `<prefix>alerts` still gets them)."},
    {"kafka.embedded_partitions", CFG_INT, F(kafka_embedded_partitions), 0, "8", 1, 256, NULL,
     NULL, "Partitions per topic of the embedded broker (`kafka.brokers = embedded`)."},
    {"kafka.embedded_bootstrap_file", CFG_STRING, F(kafka_embedded_bootstrap_file), 0, "", 0,
     4096, NULL, NULL, "When set, the embedded broker's bootstrap list is written to this "
     "file, so that kcat or tsm-sim in other processes can reach it."},
    {"librdkafka.*", CFG_PASSTHROUGH, F(librdkafka), F(librdkafka_len), "", 1, 255, NULL, NULL,
     "Any librdkafka property, passed verbatim to both the consumer and the producer "
     "(e.g. `librdkafka.security.protocol = SASL_SSL`, `librdkafka.sasl.*`, fetch tuning); "
     "each is checked with librdkafka before anything starts (and by `--check-config`): "
     "an unknown property or a bad value stops start-up with exit status 2. Settable from "
     "the file and `--set` only, not from the environment."},
    {"redis.host", CFG_STRING, F(redis_host), 0, "127.0.0.1", 1, 253, NULL, check_host,
     "Redis server host name or address."},
    {"redis.port", CFG_INT, F(redis_port), 0, "6379", 1, 65535, NULL, NULL, "Redis server port."},
    {"redis.db", CFG_INT, F(redis_db), 0, "0", 0, 15, NULL, NULL, "Redis database number."},
    {"redis.password", CFG_STRING, F(redis_password), 0, "", 0, 4096, NULL, NULL,
     "Redis password (AUTH); empty sends none. Prefer `redis.password_file` or the "
     "environment (`TSMD_REDIS_PASSWORD`) over the config file for secrets; the start-up "
     "line shows it masked."},
    {"redis.user", CFG_STRING, F(redis_user), 0, "", 0, 256, NULL, NULL,
     "Redis 6+ ACL user: tsmd then sends `AUTH user password` (the password is then "
     "required); empty sends `AUTH password` (the default user), or nothing without a "
     "password. The user needs the commands and key patterns listed in docs/REDIS.md."},
    {"redis.password_file", CFG_STRING, F(redis_password_file), 0, "", 0, 4096, NULL, NULL,
     "A file holding the Redis password (one trailing newline is removed), as container "
     "platforms hand out secrets; read at start and on SIGHUP. Set either this or "
     "`redis.password`."},
    {"redis.prefix", CFG_STRING, F(redis_prefix), 0, "tsm:", 1, 64, NULL, check_redis_prefix,
     "Prefix of every Redis key tsmd reads or writes (see docs/REDIS.md)."},
    {"http.listen", CFG_HOSTPORT, F(http_listen), 0, "127.0.0.1:8080", 0, 65535, NULL,
     check_listen, "Address of the HTTP API, `IPv4:port` or `[IPv6]:port`; port 0 picks a "
     "free port (the `listening` log line shows which)."},
    {"http.base_path", CFG_STRING, F(http_base_path), 0, "", 0, 256, NULL, check_base_path,
     "Prefix under which the API routes are served instead of the root, e.g. `/prod/v1` as "
     "the vendor's own clients expect; `/healthz`, `/readyz` and `/metrics` stay at the "
     "root. Empty or starting with `/`, without a trailing `/`."},
    {"http.max_body_bytes", CFG_INT, F(http_max_body_bytes), 0, "1048576", 1, 64 * MIB, NULL,
     NULL, "Largest request body accepted; a larger one gets 413."},
    {"http.idle_timeout", CFG_INT, F(http_idle_timeout), 0, "30", 1, DAY, NULL, NULL,
     "Seconds before an idle or slow connection is closed."},
    {"detector.clock", CFG_ENUM, F(detector_clock_event), 0, "wall", 0, 0, "wall|event", NULL,
     "`wall`: now is the wall clock. `event`: now is the greatest tsmTs seen so far, so "
     "that replays and tests are deterministic."},
    {"detector.heartbeat_timeout", CFG_INT, F(detector_heartbeat_timeout), 0, "10800", 0, DECADE,
     NULL, NULL, "Seconds of silence before \"heartbeat missed\" opens (sensors beat hourly; "
     "a gap over 3 h is a fault); 0 turns the alert off; at most ten years."},
    {"detector.heartbeat_timeout.PREFIX", CFG_PREFIX_INT, F(heartbeat_prefixes),
     F(heartbeat_prefixes_len), "", 0, DECADE, NULL, NULL,
     "The same for things whose tuid starts with PREFIX (1..64 of `A-Z a-z 0-9 _ . -`), "
     "e.g. `detector.heartbeat_timeout.TSGW = 300`; the longest matching prefix wins; 0 "
     "turns the alert off for them (event-driven devices have no heartbeat). In "
     "the environment: `TSMD_DETECTOR_HEARTBEAT_TIMEOUT_TSGW=300`."},
    {"detector.gateway_timeout", CFG_INT, F(detector_gateway_timeout), 0, "600", 1, YEAR, NULL,
     NULL, "Seconds of silence before \"gateway connection lost\" opens (gateways beat every "
     "60 s)."},
    {"detector.inhibit_by_gateway", CFG_BOOL, F(detector_inhibit_by_gateway), 0, "on", 0, 0,
     NULL, NULL, "While a sensor's gateway has an open \"gateway connection lost\" window, "
     "the sensor's \"heartbeat missed\" window does not open (one alert per gateway outage, "
     "not one per sensor)."},
    {"detector.max_clock_skew", CFG_INT, F(detector_max_clock_skew), 0, "300", 0, YEAR, NULL,
     NULL, "A tsmTs further ahead of the wall clock than this many seconds counts as the wall "
     "clock's now for liveness, in both clock modes."},
    {"store.messages_per_thing", CFG_INT, F(store_messages_per_thing), 0, "100", 0, 100000, NULL,
     NULL, "Newest messages kept per thing; 0 keeps none. Redis memory grows with it: each kept "
     "message costs its MessagePack size (about 110 to 150 bytes for battery and environment "
     "messages) plus about 100 bytes of sorted-set overhead (measured with MEMORY USAGE on "
     "Redis 7.0: 100 members of 150 bytes take 250 bytes each), so the default 100 is about "
     "25 KiB per thing."},
    {"store.commands_per_thing", CFG_INT, F(store_commands_per_thing), 0, "1000", 0, 100000,
     NULL, NULL, "Newest commands kept per thing."},
    {"store.windows_per_thing", CFG_INT, F(store_windows_per_thing), 0, "1000", 0, 100000, NULL,
     NULL, "Newest alert windows kept per thing and alert type."},
    {"auth.token_ttl", CFG_INT, F(auth_token_ttl), 0, "900", 1, 30 * DAY, NULL, NULL,
     "Seconds an API token lives."},
    {"auth.bootstrap_client", CFG_STRING, F(auth_bootstrap_client), 0, "", 0, 512, NULL,
     cfg_check_client, "`id:secret` of an API client created at start if missing (containers, "
     "demos); empty creates none."},
    {"auth.bootstrap_client_file", CFG_STRING, F(auth_bootstrap_client_file), 0, "", 0, 4096,
     NULL, NULL, "A file holding `id:secret` of the bootstrap client (one trailing newline "
     "is removed). Set either this or `auth.bootstrap_client`."},
    {"auth.login_fail_window", CFG_INT, F(auth_login_fail_window), 0, "60", 1, DAY, NULL, NULL,
     "Seconds of the window in which login attempts per client id are counted; it starts "
     "with the first attempt and is not extended by further ones."},
    {"auth.login_fail_limit", CFG_INT, F(auth_login_fail_limit), 0, "10", 1, 1000000, NULL,
     NULL, "Login attempts per client id and window (a successful one gives its attempt "
     "back); past it `POST /auth/client-token` answers 429 with `Retry-After` = the rest of "
     "the window, without verifying the secret."},
    {"log.level", CFG_STRING, F(log_level), 0, "info", 1, 64, NULL, check_log_level,
     "Lowest level of the log lines written to stderr: `debug`, `info`, `warn` or `error`. "
     "Changes on SIGHUP without a restart."},
    {"api.command_ids", CFG_INT_LIST, F(api_command_ids), F(api_command_ids_len),
     "1500,1501,12200,13200", 0, INT32_MAX, NULL, NULL,
     "tsmIds the commands API accepts, comma-separated; empty accepts none."},
    {"alertmanager.url", CFG_STRING, F(am_url), 0, "", 0, 4096, NULL, check_am_urls,
     "Prometheus Alertmanager base URL(s), e.g. `http://127.0.0.1:9093`; several, "
     "comma-separated (an HA pair), each get every alert through `POST /api/v2/alerts`, each "
     "with its own queue. Empty sends none. See docs/ALERTMANAGER.md."},
    {"alertmanager.labels", CFG_STRING, F(am_labels), 0, "", 0, 4096, NULL, cfg_am_labels_check,
     "Static labels added to every alert, `name=value,...` (e.g. `env=prod,team=iot`); a "
     "static label may not use the name of a built-in one (alertname, tuid, alert_type, group, "
     "gateway)."},
    {"alertmanager.resend_interval", CFG_INT, F(am_resend_interval), 0, "60", 1, DAY, NULL, NULL,
     "Seconds between two sends of an open window's alert; each send says it ends 4 intervals "
     "later, so the alerts of a tsmd that is gone resolve by themselves."},
    {"alertmanager.timeout", CFG_INT, F(am_timeout), 0, "10", 1, 600, NULL, NULL,
     "Seconds one POST to Alertmanager may take before it counts as failed and is retried."},
    {"alertmanager.connect_timeout", CFG_INT, F(am_connect_timeout), 0, "5", 1, 600, NULL, NULL,
     "Seconds to wait for a connection to Alertmanager."},
    {"alertmanager.bearer_token_file", CFG_STRING, F(am_bearer_token_file), 0, "", 0, 4096, NULL,
     NULL, "File holding a bearer token sent as `Authorization: Bearer` (Alertmanager behind "
     "an authenticating proxy); empty sends none. Read at start; a final newline is dropped."},
    {"alertmanager.username", CFG_STRING, F(am_username), 0, "", 0, 256, NULL, NULL,
     "User name for HTTP basic auth (with `alertmanager.password_file`); empty sends none."},
    {"alertmanager.password_file", CFG_STRING, F(am_password_file), 0, "", 0, 4096, NULL, NULL,
     "File holding the basic-auth password. Read at start; a final newline is dropped."},
    {"alertmanager.ca_file", CFG_STRING, F(am_ca_file), 0, "", 0, 4096, NULL, NULL,
     "PEM file of the CA(s) that sign Alertmanager's (or its proxy's) certificate, for "
     "`https://` URLs; empty uses the system's CAs."},
};
/* clang-format on */

const cfg_row_t *cfg_table(size_t *n)
{
    *n = sizeof rows / sizeof rows[0];
    return rows;
}

size_t cfg_row_stem_len(const cfg_row_t *row)
{
    if (row->type != CFG_PREFIX_INT && row->type != CFG_PASSTHROUGH) return 0;
    return (size_t)(strrchr(row->name, '.') - row->name) + 1;
}
