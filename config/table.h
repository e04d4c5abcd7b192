/* table.h - the settings table behind config.h: one row per setting, from which
 *           parsing, bounds, defaults, docs/CONFIG.md and tsmd.conf all come.
 * Threads: the table is constant data; any thread may read it.
 * Ownership: rows and their strings are static; nothing here allocates.
 * Errors: a check callback returns 0, or -1 after writing why into its buffer
 *   (a phrase such as "is not host:port"; the caller adds key and source). */
#ifndef CFG_TABLE_H
#define CFG_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum cfg_type_e {
    CFG_STRING,     /* char *; min..max bound the length in bytes */
    CFG_INT,        /* int64_t; min..max bound the value */
    CFG_BOOL,       /* bool; on/off, true/false, yes/no, 1/0 */
    CFG_ENUM,       /* bool; choices "a|b": a is false, b is true */
    CFG_HOSTPORT,   /* char *; host:port or [v6]:port, port 1..65535 */
    CFG_INT_LIST,   /* int64_t * plus size_t length; min..max bound each element */
    CFG_PREFIX_INT, /* family NAME.PREFIX: cfg_prefix_timeout_t * plus length */
    CFG_PASSTHROUGH /* family NAME.*: cfg_kv_t * plus length, any key, any value */
} cfg_type_t;

/* Extra validation of a string value after the type's own; see Errors above. */
typedef int (*cfg_check_cb)(const char *value, char *why, size_t why_len);

typedef struct cfg_row_s {
    const char *name; /* "http.idle_timeout"; families end in ".PREFIX" or ".*" */
    cfg_type_t type;
    size_t offset;       /* offsetof(cfg_t, field) */
    size_t len_offset;   /* lists and families: offsetof(cfg_t, field_len) */
    const char *def;     /* the default, as text parsed like any other value */
    int64_t min, max;    /* see cfg_type_t */
    const char *choices; /* CFG_ENUM only */
    cfg_check_cb check;  /* NULL when the type says it all */
    const char *doc;     /* one paragraph; may use markdown backticks */
} cfg_row_t;

#define CFG_LIST_MAX 256 /* elements of an int list */

/* Returns the table and writes its row count to n. */
const cfg_row_t *cfg_table(size_t *n);

/* Returns the length of the family stem ("detector.heartbeat_timeout." is 27)
 * of a family row, or 0 for a row naming one setting. */
size_t cfg_row_stem_len(const cfg_row_t *row);

/* Returns the port of "host:port" or "[v6]:port" in s[0..len) (the host a name,
 * an IPv4 or an IPv6 address), or -1 when the text does not have that shape. */
int cfg_hostport_port(const char *s, size_t len);

/* The check of auth.bootstrap_client (id:secret or empty), also applied to the
 * content of auth.bootstrap_client_file. */
int cfg_check_client(const char *v, char *why, size_t n);
/* Checks alertmanager.labels: "name=value,..." with Prometheus label names
 * (A-Z a-z 0-9 _, not first a digit), none of them a built-in label of the
 * alerts (alertname, tuid, alert_type, group, gateway). Returns 0 or -1 with
 * why filled. */
int cfg_am_labels_check(const char *v, char *why, size_t why_len);

#endif
