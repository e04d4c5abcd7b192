/* config.h - tsmd's settings: one table, loaded from defaults < file < env < --set.
 * Threads: load on the main thread before anything starts; read-only after.
 * Ownership: cfg_t owns its strings and lists; cfg_free() releases them.
 * Errors: cfg_load() returns 0, or -1 after writing one line naming the key
 *   and what is wrong into err (the caller prints it and exits 2). */
#ifndef CFG_CONFIG_H
#define CFG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#define CFG_ERR_MAX 512

/* One per-prefix heartbeat timeout (detector.heartbeat_timeout.PREFIX). */
typedef struct cfg_prefix_timeout_s {
    char *prefix;
    int64_t seconds;
} cfg_prefix_timeout_t;

/* One librdkafka.* pass-through setting. */
typedef struct cfg_kv_s {
    char *key;
    char *value;
} cfg_kv_t;

typedef struct cfg_s {
    /* kafka */
    char *kafka_brokers; /* "embedded" or host:port,... */
    char *kafka_topic;   /* comma-separated */
    char *kafka_group_id;
    char *kafka_commands_topic;
    char *kafka_alerts_topic; /* "" turns alert events off */
    int64_t kafka_embedded_partitions;
    char *kafka_embedded_bootstrap_file; /* "" when unset */
    cfg_kv_t *librdkafka;                /* librdkafka.* pass-through, in order */
    size_t librdkafka_len;
    /* redis */
    char *redis_host;
    int64_t redis_port;
    int64_t redis_db;
    char *redis_password;      /* also from redis.password_file */
    char *redis_user;          /* "" : AUTH password only */
    char *redis_password_file; /* "" when unset */
    char *redis_prefix;
    /* http */
    char *http_listen;    /* host:port */
    char *http_base_path; /* "" or "/prod/v1" (no trailing slash) */
    int64_t http_max_body_bytes;
    int64_t http_idle_timeout; /* seconds */
    /* detector */
    bool detector_clock_event; /* detector.clock = event */
    int64_t detector_heartbeat_timeout;
    cfg_prefix_timeout_t *heartbeat_prefixes; /* sorted longest prefix first */
    size_t heartbeat_prefixes_len;
    int64_t detector_gateway_timeout;
    bool detector_inhibit_by_gateway;
    int64_t detector_max_clock_skew;
    /* store */
    int64_t store_messages_per_thing;
    int64_t store_commands_per_thing;
    int64_t store_windows_per_thing;
    /* auth */
    int64_t auth_token_ttl;
    char *auth_bootstrap_client; /* "" or id:secret; also from the _file form */
    char *auth_bootstrap_client_file;
    int64_t auth_login_fail_window; /* seconds */
    int64_t auth_login_fail_limit;  /* attempts per client id and window */
    /* log */
    char *log_level; /* debug, info, warn or error */
    /* api */
    int64_t *api_command_ids;
    size_t api_command_ids_len;
    /* alertmanager */
    char *am_url;               /* "" (off) or base URLs, comma-separated */
    char *am_labels;            /* "" or k=v,... */
    int64_t am_resend_interval; /* seconds */
    int64_t am_timeout;         /* seconds per request */
    int64_t am_connect_timeout; /* seconds */
    char *am_bearer_token_file; /* "" when none */
    char *am_username;          /* "" when no basic auth */
    char *am_password_file;
    char *am_ca_file;
} cfg_t;

/* Fills cfg with the built-in defaults. Returns 0. */
int cfg_init_defaults(cfg_t *cfg);

/* Loads the settings: defaults, then the file at path (NULL: none), then the
 * environment envp (TSMD_SECTION_KEY=value; NULL: none), then each "key=value"
 * of sets[0..nsets). Returns 0, or -1 with one line in err naming the key
 * (and the source: FILE:LINE, env VAR or --set); after -1 cfg holds nothing
 * (cfg_free() is then optional). TSMD_* variables that name no setting are
 * ignored; TSMD_LIBRDKAFKA_* is an error (librdkafka.* is file and --set only). */
int cfg_load(cfg_t *cfg, const char *path, char *const *envp, char *const *sets, size_t nsets,
             char err[CFG_ERR_MAX]);

/* Receives one error line of cfg_check(). */
typedef void (*cfg_error_cb)(void *arg, const char *line);

/* Loads like cfg_load() but goes on after an error: each bad setting is
 * handed to cb as one line. Returns the number of errors; cfg holds what
 * could be applied either way (the caller frees it with cfg_free()). */
int cfg_check(cfg_t *cfg, const char *path, char *const *envp, char *const *sets, size_t nsets,
              cfg_error_cb cb, void *arg);

/* Receives one effective setting as text: key (families expanded, e.g.
 * "librdkafka.security.protocol"), value, and whether it is a secret that
 * must not be shown. */
typedef void (*cfg_each_cb)(void *arg, const char *key, const char *value, bool secret);

/* Calls cb for every setting, in the table's order. */
void cfg_each(const cfg_t *cfg, cfg_each_cb cb, void *arg);

/* Returns true when the setting named key can change without a restart
 * (applied on SIGHUP): log.level and the detector's timeouts. */
bool cfg_key_is_live(const char *key);

/* Applies one "section.key = value" setting. Returns 0, or -1 with err set. */
int cfg_set(cfg_t *cfg, const char *key, const char *value, char err[CFG_ERR_MAX]);

/* Returns the heartbeat timeout of a tuid: the longest matching
 * detector.heartbeat_timeout.PREFIX, else detector.heartbeat_timeout. */
int64_t cfg_heartbeat_timeout(const cfg_t *cfg, const char *tuid, size_t len);

/* Writes docs/CONFIG.md's content (generated from the table) to f. */
void cfg_write_markdown(FILE *f);

/* Writes config/tsmd.conf's content (every setting at its default, with its
 * doc as comments) to f. */
void cfg_write_conf(FILE *f);

void cfg_free(cfg_t *cfg);

#endif
