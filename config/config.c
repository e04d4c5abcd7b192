/* config.c - parsing and applying settings: values by the type of their row in
 * table.c, the file, the environment and --set, in that order of precedence. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getline, strdup, strcasecmp when built outside CMake */
#endif
#include "config/config.h"

#include "config/table.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define WHY_MAX 512
#define VALUE_MAX 4096 /* bytes of a pass-through value */
#define ENV_PREFIX "TSMD_"

/* The config library stands alone (the fuzz target links only the config sources),
 * so it has its own abort-on-out-of-memory helpers. */
static void *xcheck(void *p)
{
    if (p == NULL) {
        fputs("config: out of memory\n", stderr);
        abort();
    }
    return p;
}
#define xstrdup(s) ((char *)xcheck(strdup(s)))
#define xrealloc(p, n) xcheck(realloc((p), (n)))

/* Writes s into out as a quoted, printable, single-line excerpt. */
static void quote(char *out, size_t n, const char *s, size_t len)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 40) {
            o += (size_t)snprintf(out + o, n - o, "...");
            break;
        }
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        else if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\%c", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '"';
    out[o] = 0;
}

/* Writes "config: KEY: WHAT (SOURCE)" into err; returns -1. The key is
 * printed bare when it is printable, quoted otherwise. */
static int fail(char err[CFG_ERR_MAX], const char *key, const char *src, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char err[CFG_ERR_MAX], const char *key, const char *src, const char *fmt, ...)
{
    char what[WHY_MAX * 2], name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t klen = strlen(key);
    int plain = klen > 0 && klen < 100;
    for (size_t i = 0; i < klen && plain; i++)
        plain = key[i] > 0x20 && key[i] < 0x7f && key[i] != '"';
    if (plain)
        snprintf(name, sizeof name, "%s", key);
    else
        quote(name, sizeof name, key, klen);
    /* A long value may cut the message short, but never the source. */
    char tail[220] = "";
    if (src) snprintf(tail, sizeof tail, " (%.200s)", src);
    size_t tlen = strlen(tail);
    int len = snprintf(err, CFG_ERR_MAX, "config: %s: %s", name, what);
    size_t at = (size_t)len;
    if (len < 0 || at + tlen >= CFG_ERR_MAX) at = CFG_ERR_MAX - 1 - tlen;
    memcpy(err + at, tail, tlen + 1);
    return -1;
}

static void *field(cfg_t *cfg, size_t offset)
{
    return (char *)cfg + offset;
}

/* Returns the row of key, or NULL; for a family row *rest is the part after
 * the stem ("TSGW" of "detector.heartbeat_timeout.TSGW"). */
static const cfg_row_t *find_row(const char *key, const char **rest)
{
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        size_t stem = cfg_row_stem_len(&rows[i]);
        if (stem == 0 && strcmp(rows[i].name, key) == 0) {
            *rest = NULL;
            return &rows[i];
        }
        if (stem && strncmp(rows[i].name, key, stem) == 0) {
            *rest = key + stem;
            return &rows[i];
        }
    }
    return NULL;
}

/* Parses a strict decimal integer ("-12", "300"; no spaces, no suffix). */
static int parse_int(const char *v, size_t len, int64_t *out)
{
    size_t i = (len > 0 && (v[0] == '-' || v[0] == '+')) ? 1 : 0;
    if (i == len || len - i > 18) return -1;
    int64_t x = 0;
    for (size_t j = i; j < len; j++) {
        if (v[j] < '0' || v[j] > '9') return -1;
        x = x * 10 + (v[j] - '0');
    }
    *out = v[0] == '-' ? -x : x;
    return 0;
}

static int int_in_row(const cfg_row_t *row, const char *v, size_t len, int64_t *out, char *why)
{
    char q[100];
    quote(q, sizeof q, v, len);
    if (parse_int(v, len, out) != 0) {
        snprintf(why, WHY_MAX, "%s is not an integer", q);
        return -1;
    }
    if (*out < row->min || *out > row->max) {
        snprintf(why, WHY_MAX, "%lld is out of range %lld..%lld", (long long)*out,
                 (long long)row->min, (long long)row->max);
        return -1;
    }
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            *out = true;
        else if (strcasecmp(v, no[i]) == 0)
            *out = false;
        else
            continue;
        return 0;
    }
    return -1;
}

/* Returns the index of v among the '|'-separated choices, or -1. */
static int parse_enum(const char *choices, const char *v)
{
    size_t vlen = strlen(v);
    int i = 0;
    for (const char *p = choices;; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && memcmp(p, v, len) == 0) return i;
        if (!bar) return -1;
        p = bar + 1;
    }
}

static int set_string(cfg_t *cfg, const cfg_row_t *row, const char *v, char *why)
{
    char q[100];
    size_t len = strlen(v);
    quote(q, sizeof q, v, len);
    if ((int64_t)len < row->min) {
        snprintf(why, WHY_MAX, "must not be empty");
        return -1;
    }
    if ((int64_t)len > row->max) {
        snprintf(why, WHY_MAX, "%s is longer than %lld bytes", q, (long long)row->max);
        return -1;
    }
    if (row->type == CFG_HOSTPORT) {
        int port = cfg_hostport_port(v, len);
        if (port < row->min || port > row->max) {
            snprintf(why, WHY_MAX, "%s is not host:port (port %lld..%lld)", q, (long long)row->min,
                     (long long)row->max);
            return -1;
        }
    }
    char phrase[300];
    if (row->check && row->check(v, phrase, sizeof phrase) != 0) {
        snprintf(why, WHY_MAX, "%s %s", q, phrase);
        return -1;
    }
    char **sp = field(cfg, row->offset);
    free(*sp);
    *sp = xstrdup(v);
    return 0;
}

static int set_int_list(cfg_t *cfg, const cfg_row_t *row, const char *v, char *why)
{
    int64_t vals[CFG_LIST_MAX], x;
    size_t n = 0;
    for (const char *p = v; *v;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        while (end > p && end[-1] == ' ')
            end--;
        if (n == CFG_LIST_MAX) {
            snprintf(why, WHY_MAX, "has more than %d elements", CFG_LIST_MAX);
            return -1;
        }
        if (int_in_row(row, p, (size_t)(end - p), &x, why) != 0) {
            char q[100], inner[300];
            quote(q, sizeof q, v, strlen(v));
            snprintf(inner, sizeof inner, "%.250s", why);
            snprintf(why, WHY_MAX, "%s is not a comma-separated list of integers: %s", q, inner);
            return -1;
        }
        vals[n++] = x;
        if (!comma) break;
        p = comma + 1;
    }
    int64_t **lp = field(cfg, row->offset);
    size_t *lenp = field(cfg, row->len_offset);
    free(*lp);
    *lp = n ? xcheck(malloc(n * sizeof vals[0])) : NULL;
    if (n) memcpy(*lp, vals, n * sizeof vals[0]);
    *lenp = n;
    return 0;
}

/* Sorted longest prefix first, so the first match is the longest one. */
static int set_prefix(cfg_t *cfg, const cfg_row_t *row, const char *prefix, const char *v,
                      char *why)
{
    size_t plen = strlen(prefix), i;
    int ok = plen >= 1 && plen <= 64;
    for (i = 0; i < plen && ok; i++)
        ok = isalnum((unsigned char)prefix[i]) || strchr("_.-", prefix[i]);
    if (!ok) {
        char q[100];
        quote(q, sizeof q, prefix, plen);
        snprintf(why, WHY_MAX, "prefix %s is not 1..64 of A-Z a-z 0-9 _ . -", q);
        return -1;
    }
    int64_t x;
    if (int_in_row(row, v, strlen(v), &x, why) != 0) return -1;
    cfg_prefix_timeout_t **ap = field(cfg, row->offset);
    size_t *lenp = field(cfg, row->len_offset);
    for (i = 0; i < *lenp; i++)
        if (strcmp((*ap)[i].prefix, prefix) == 0) {
            (*ap)[i].seconds = x;
            return 0;
        }
    *ap = xrealloc(*ap, (*lenp + 1) * sizeof **ap);
    for (i = *lenp; i > 0 && strlen((*ap)[i - 1].prefix) < plen; i--)
        (*ap)[i] = (*ap)[i - 1];
    (*ap)[i] = (cfg_prefix_timeout_t){xstrdup(prefix), x};
    (*lenp)++;
    return 0;
}

/* Any key of printable bytes without white space; librdkafka judges the rest. */
static int set_passthrough(cfg_t *cfg, const cfg_row_t *row, const char *key, const char *v,
                           char *why)
{
    size_t klen = strlen(key), i;
    int ok = (int64_t)klen >= row->min && (int64_t)klen <= row->max;
    for (i = 0; i < klen && ok; i++)
        ok = key[i] > 0x20 && key[i] < 0x7f;
    if (!ok) {
        char q[100];
        quote(q, sizeof q, key, klen);
        snprintf(why, WHY_MAX, "property name %s is empty, too long or has white space", q);
        return -1;
    }
    if (strlen(v) > VALUE_MAX) {
        snprintf(why, WHY_MAX, "value is longer than %d bytes", VALUE_MAX);
        return -1;
    }
    cfg_kv_t **ap = field(cfg, row->offset);
    size_t *lenp = field(cfg, row->len_offset);
    for (i = 0; i < *lenp; i++)
        if (strcmp((*ap)[i].key, key) == 0) {
            free((*ap)[i].value);
            (*ap)[i].value = xstrdup(v);
            return 0;
        }
    *ap = xrealloc(*ap, (*lenp + 1) * sizeof **ap);
    (*ap)[(*lenp)++] = (cfg_kv_t){xstrdup(key), xstrdup(v)};
    return 0;
}

/* Applies v to the setting of row; on failure nothing changed and why holds a
 * phrase about the value. */
static int set_row(cfg_t *cfg, const cfg_row_t *row, const char *rest, const char *v, char *why)
{
    char q[100];
    quote(q, sizeof q, v, strlen(v));
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(why, WHY_MAX, "%s contains a control character", q);
            return -1;
        }
    switch (row->type) {
    case CFG_STRING:
    case CFG_HOSTPORT:
        return set_string(cfg, row, v, why);
    case CFG_INT: {
        int64_t x;
        if (int_in_row(row, v, strlen(v), &x, why) != 0) return -1;
        *(int64_t *)field(cfg, row->offset) = x;
        return 0;
    }
    case CFG_BOOL: {
        bool b;
        if (parse_bool(v, &b) == 0) {
            *(bool *)field(cfg, row->offset) = b;
            return 0;
        }
        snprintf(why, WHY_MAX, "%s is not a boolean (on/off, true/false, yes/no, 1/0)", q);
        return -1;
    }
    case CFG_ENUM: {
        int i = parse_enum(row->choices, v);
        if (i >= 0)
            *(bool *)field(cfg, row->offset) = i == 1;
        else
            snprintf(why, WHY_MAX, "%s is not one of %s", q, row->choices);
        return i >= 0 ? 0 : -1;
    }
    case CFG_INT_LIST:
        return set_int_list(cfg, row, v, why);
    case CFG_PREFIX_INT:
        return set_prefix(cfg, row, rest, v, why);
    case CFG_PASSTHROUGH:
        return set_passthrough(cfg, row, rest, v, why);
    }
    return -1;
}

/* Applies key = value from src (NULL: no source in the message). */
static int apply(cfg_t *cfg, const char *key, const char *value, const char *src,
                 char err[CFG_ERR_MAX])
{
    const char *rest;
    const cfg_row_t *row = find_row(key, &rest);
    if (!row) return fail(err, key, src, "unknown setting");
    char why[WHY_MAX];
    if (set_row(cfg, row, rest, value, why) != 0) return fail(err, key, src, "%s", why);
    return 0;
}

int cfg_set(cfg_t *cfg, const char *key, const char *value, char err[CFG_ERR_MAX])
{
    return apply(cfg, key, value, NULL, err);
}

int cfg_init_defaults(cfg_t *cfg)
{
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < n; i++) {
        if (cfg_row_stem_len(&rows[i])) continue;
        char why[WHY_MAX];
        int rc = set_row(cfg, &rows[i], NULL, rows[i].def, why);
        assert(rc == 0 && "a default breaks its own row's rules");
        (void)rc;
    }
    return 0;
}

void cfg_free(cfg_t *cfg)
{
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        const cfg_row_t *row = &rows[i];
        if (row->type == CFG_INT || row->type == CFG_BOOL || row->type == CFG_ENUM) continue;
        void *p = *(void **)field(cfg, row->offset);
        size_t len = row->len_offset ? *(size_t *)field(cfg, row->len_offset) : 0;
        if (row->type == CFG_PREFIX_INT)
            for (size_t j = 0; j < len; j++)
                free(((cfg_prefix_timeout_t *)p)[j].prefix);
        if (row->type == CFG_PASSTHROUGH)
            for (size_t j = 0; j < len; j++) {
                free(((cfg_kv_t *)p)[j].key);
                free(((cfg_kv_t *)p)[j].value);
            }
        free(p);
    }
    memset(cfg, 0, sizeof *cfg);
}

int64_t cfg_heartbeat_timeout(const cfg_t *cfg, const char *tuid, size_t len)
{
    for (size_t i = 0; i < cfg->heartbeat_prefixes_len; i++) {
        const cfg_prefix_timeout_t *pt = &cfg->heartbeat_prefixes[i];
        size_t plen = strlen(pt->prefix);
        if (plen <= len && memcmp(pt->prefix, tuid, plen) == 0) return pt->seconds;
    }
    return cfg->detector_heartbeat_timeout;
}

/* Returns s with white space removed from both ends (in place). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && strchr(" \t\r\n", s[len - 1]))
        s[--len] = 0;
    return s;
}

/* Returns true when some setting's name starts with "section.". */
static int section_known(const char *section)
{
    size_t n, slen = strlen(section);
    const cfg_row_t *rows = cfg_table(&n);
    for (size_t i = 0; i < n; i++)
        if (slen && strncmp(rows[i].name, section, slen) == 0 && rows[i].name[slen] == '.')
            return 1;
    return 0;
}

/* Handles one line of the file; section is the current [section] ("" before any). */
static int file_line(cfg_t *cfg, char *line, char *section, size_t section_max, const char *src,
                     char err[CFG_ERR_MAX])
{
    char *s = trim(line);
    if (*s == 0 || *s == '#') return 0;
    if (*s == '[') {
        size_t len = strlen(s);
        char *name = s + 1;
        if (s[len - 1] != ']') return fail(err, s, src, "expected [section]");
        s[len - 1] = 0;
        name = trim(name);
        if (!section_known(name) || strlen(name) >= section_max)
            return fail(err, name, src, "unknown section");
        snprintf(section, section_max, "%s", name);
        return 0;
    }
    char *eq = strchr(s, '=');
    if (!eq) return fail(err, s, src, "expected \"key = value\", \"[section]\" or a # comment");
    if (eq == s) return fail(err, s, src, "a line without a key");
    *eq = 0;
    char *key = trim(s), *value = trim(eq + 1);
    char full[512];
    int n = snprintf(full, sizeof full, "%s%s%s", section, *section ? "." : "", key);
    if (n < 0 || (size_t)n >= sizeof full) return fail(err, key, src, "unknown setting");
    return apply(cfg, full, value, src, err);
}

/* Where errors go: the first one ends the load (sink NULL), or each is handed
 * to the sink and the load goes on (--check-config). */
typedef struct sink_s {
    cfg_error_cb cb;
    void *arg;
    int errors;
} sink_t;

/* Returns -1 when the load must stop after an error of rc (-1). */
static int report(sink_t *sink, int rc, char err[CFG_ERR_MAX])
{
    if (rc == 0) return 0;
    if (sink == NULL) return -1;
    sink->errors++;
    sink->cb(sink->arg, err);
    err[0] = 0;
    return 0;
}

static int load_file(cfg_t *cfg, const char *path, sink_t *sink, char err[CFG_ERR_MAX])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return report(
            sink, fail(err, path, NULL, "cannot open the config file: %s", strerror(errno)), err);
    char *line = NULL, section[128] = "", src[300];
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    for (long lineno = 1; rc == 0 && (len = getline(&line, &cap, f)) >= 0; lineno++) {
        snprintf(src, sizeof src, "%s:%ld", path, lineno);
        char *s = line;
        if (lineno == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) s += 3;
        if (memchr(line, 0, (size_t)len))
            rc = fail(err, path, src, "the line has a NUL byte");
        else
            rc = file_line(cfg, s, section, sizeof section, src, err);
        rc = report(sink, rc, err);
    }
    if (rc == 0 && ferror(f))
        rc = report(sink, fail(err, path, NULL, "cannot read the config file: %s", strerror(errno)),
                    err);
    free(line);
    fclose(f);
    return rc;
}

/* Returns true when env[0..len) is name[0..len) in upper case with '.' as '_'. */
static int env_matches(const char *name, const char *env, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (name[i] == 0) return 0;
        char c = name[i] == '.' ? '_' : (char)toupper((unsigned char)name[i]);
        if (c != env[i]) return 0;
    }
    return 1;
}

/* Applies one TSMD_* variable; names that match no setting are not ours. */
static int env_var(cfg_t *cfg, const char *var, char err[CFG_ERR_MAX])
{
    const char *eq = strchr(var, '=');
    if (strncmp(var, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 || !eq) return 0;
    const char *name = var + strlen(ENV_PREFIX), *value = eq + 1;
    size_t len = (size_t)(eq - name), n;
    char src[200], key[300];
    snprintf(src, sizeof src, "env %.*s", (int)(eq - var < 150 ? eq - var : 150), var);
    const cfg_row_t *rows = cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        size_t stem = cfg_row_stem_len(&rows[i]);
        if (stem == 0 && strlen(rows[i].name) == len && env_matches(rows[i].name, name, len))
            return apply(cfg, rows[i].name, value, src, err);
        if (stem == 0 || len <= stem || !env_matches(rows[i].name, name, stem)) continue;
        snprintf(key, sizeof key, "%.*s%.*s", (int)stem, rows[i].name,
                 (int)(len - stem < 200 ? len - stem : 200), name + stem);
        if (rows[i].type == CFG_PASSTHROUGH)
            return fail(err, key, src,
                        "%s cannot be set from the environment (use the file "
                        "or --set)",
                        rows[i].name);
        return apply(cfg, key, value, src, err);
    }
    return 0;
}

/* Reads a secret from the file of a *_file setting into *dst: the whole
 * content, one trailing newline (LF or CRLF) removed. */
static int read_secret(const char *key, const char *path, char **dst, size_t max,
                       char err[CFG_ERR_MAX])
{
    FILE *f = fopen(path, "r");
    if (!f) return fail(err, key, NULL, "cannot open %s: %s", path, strerror(errno));
    char *buf = xcheck(malloc(max + 2));
    size_t n = fread(buf, 1, max + 2, f);
    int bad = ferror(f);
    fclose(f);
    if (n > 0 && buf[n - 1] == '\n') n--;
    if (n > 0 && buf[n - 1] == '\r') n--;
    buf[n < max + 1 ? n : max + 1] = 0;
    const char *why = bad                 ? "cannot be read"
                      : n > max           ? "holds too long a secret"
                      : n == 0            ? "is empty"
                      : memchr(buf, 0, n) ? "holds a NUL byte"
                                          : NULL;
    for (size_t i = 0; i < n && !why; i++)
        if ((unsigned char)buf[i] < 0x20)
            why = "holds a control character (other than the final newline)";
    if (why) {
        free(buf);
        return fail(err, key, NULL, "%s %s", path, why);
    }
    free(*dst);
    *dst = buf;
    return 0;
}

/* The settings that only make sense together, and the secrets given in files. */
static int resolve(cfg_t *cfg, sink_t *sink, char err[CFG_ERR_MAX])
{
    static const struct {
        const char *key, *file_key;
        size_t secret, file, max;
    } files[] = {
        {"redis.password", "redis.password_file", offsetof(cfg_t, redis_password),
         offsetof(cfg_t, redis_password_file), 4096},
        {"auth.bootstrap_client", "auth.bootstrap_client_file",
         offsetof(cfg_t, auth_bootstrap_client), offsetof(cfg_t, auth_bootstrap_client_file), 512},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char **secret = field(cfg, files[i].secret);
        const char *path = *(char **)field(cfg, files[i].file);
        if (path[0] == 0) continue;
        int rc;
        if ((*secret)[0])
            rc = fail(err, files[i].file_key, NULL, "set either %s or %s, not both", files[i].key,
                      files[i].file_key);
        else
            rc = read_secret(files[i].file_key, path, secret, files[i].max, err);
        if (rc == 0 && files[i].secret == offsetof(cfg_t, auth_bootstrap_client)) {
            char why[300];
            if (cfg_check_client(*secret, why, sizeof why) != 0)
                rc = fail(err, files[i].file_key, NULL, "the file's content %s", why);
        }
        if (report(sink, rc, err) != 0) return -1;
    }
    if (cfg->redis_user[0] && cfg->redis_password[0] == 0 &&
        report(sink,
               fail(err, "redis.user", NULL,
                    "needs redis.password or redis.password_file (AUTH user password)"),
               err) != 0)
        return -1;
    return 0;
}

static int load(cfg_t *cfg, const char *path, char *const *envp, char *const *sets, size_t nsets,
                sink_t *sink, char err[CFG_ERR_MAX])
{
    cfg_init_defaults(cfg);
    err[0] = 0;
    if (path && load_file(cfg, path, sink, err) != 0) return -1;
    for (size_t i = 0; envp && envp[i]; i++)
        if (report(sink, env_var(cfg, envp[i], err), err) != 0) return -1;
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        int rc;
        if (!eq) {
            rc = fail(err, sets[i], "--set", "expected key=value");
        } else {
            char key[300];
            snprintf(key, sizeof key, "%.*s", (int)(eq - sets[i] < 299 ? eq - sets[i] : 299),
                     sets[i]);
            rc = apply(cfg, trim(key), eq + 1, "--set", err);
        }
        if (report(sink, rc, err) != 0) return -1;
    }
    return resolve(cfg, sink, err);
}

int cfg_load(cfg_t *cfg, const char *path, char *const *envp, char *const *sets, size_t nsets,
             char err[CFG_ERR_MAX])
{
    if (load(cfg, path, envp, sets, nsets, NULL, err) == 0) return 0;
    cfg_free(cfg);
    return -1;
}

int cfg_check(cfg_t *cfg, const char *path, char *const *envp, char *const *sets, size_t nsets,
              cfg_error_cb cb, void *arg)
{
    char err[CFG_ERR_MAX];
    sink_t sink = {cb, arg, 0};
    load(cfg, path, envp, sets, nsets, &sink, err);
    return sink.errors;
}

/* ---- settings as text ---- */

static bool secret_key(const char *key)
{
    static const char *const secrets[] = {"redis.password", "auth.bootstrap_client"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strcmp(key, secrets[i]) == 0) return true;
    if (strncmp(key, "librdkafka.", 11) != 0) return false;
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "key.pem") ||
           strstr(key, "oauthbearer.config") || strstr(key, "jaas");
}

bool cfg_key_is_live(const char *key)
{
    static const char *const live[] = {"log.level",
                                       "detector.heartbeat_timeout",
                                       "detector.gateway_timeout",
                                       "detector.max_clock_skew",
                                       "alertmanager.labels",
                                       "alertmanager.resend_interval"};
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (strcmp(key, live[i]) == 0) return true;
    return strncmp(key, "detector.heartbeat_timeout.", 27) == 0;
}

static void each_value(const cfg_t *cfg, const cfg_row_t *row, cfg_each_cb cb, void *arg)
{
    char text[VALUE_MAX + 64];
    const void *p = (const char *)cfg + row->offset;
    switch (row->type) {
    case CFG_STRING:
    case CFG_HOSTPORT:
        snprintf(text, sizeof text, "%s", *(char *const *)p);
        break;
    case CFG_INT:
        snprintf(text, sizeof text, "%lld", (long long)*(const int64_t *)p);
        break;
    case CFG_BOOL:
        snprintf(text, sizeof text, "%s", *(const bool *)p ? "on" : "off");
        break;
    case CFG_ENUM: {
        const char *bar = strchr(row->choices, '|');
        if (*(const bool *)p)
            snprintf(text, sizeof text, "%s", bar + 1);
        else
            snprintf(text, sizeof text, "%.*s", (int)(bar - row->choices), row->choices);
        break;
    }
    case CFG_INT_LIST: {
        const int64_t *v = *(int64_t *const *)p;
        size_t n = *(const size_t *)((const char *)cfg + row->len_offset), o = 0;
        text[0] = 0;
        for (size_t i = 0; i < n && o < sizeof text - 24; i++)
            o += (size_t)snprintf(text + o, sizeof text - o, "%s%lld", i ? "," : "",
                                  (long long)v[i]);
        break;
    }
    case CFG_PREFIX_INT:
    case CFG_PASSTHROUGH: {
        size_t n = *(const size_t *)((const char *)cfg + row->len_offset);
        size_t stem = cfg_row_stem_len(row);
        char key[400];
        for (size_t i = 0; i < n; i++) {
            const char *sub;
            if (row->type == CFG_PREFIX_INT) {
                const cfg_prefix_timeout_t *t = &(*(cfg_prefix_timeout_t *const *)p)[i];
                sub = t->prefix;
                snprintf(text, sizeof text, "%lld", (long long)t->seconds);
            } else {
                const cfg_kv_t *kv = &(*(cfg_kv_t *const *)p)[i];
                sub = kv->key;
                snprintf(text, sizeof text, "%s", kv->value);
            }
            snprintf(key, sizeof key, "%.*s%s", (int)stem, row->name, sub);
            cb(arg, key, text, secret_key(key));
        }
        return;
    }
    }
    cb(arg, row->name, text, secret_key(row->name));
}

void cfg_each(const cfg_t *cfg, cfg_each_cb cb, void *arg)
{
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    for (size_t i = 0; i < n; i++)
        each_value(cfg, &rows[i], cb, arg);
}
