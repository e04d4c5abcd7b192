/* doc.c - docs/CONFIG.md and config/tsmd.conf, both generated from the settings
 * table so that the documentation cannot drift from the code
 * (tests/config/test_config_docs.c compares them with the checked-in files). */
#include "config/config.h"

#include "config/table.h"

#include <ctype.h>
#include <string.h>

/* The part of docs/CONFIG.md above the table. */
static const char *const preamble[] = {
    "<!-- Generated from config/table.c and config/doc.c: edit those, then run",
    "     `tsmd --config-markdown > docs/CONFIG.md` or",
    "     `TSMD_REGENERATE_DOCS=1 build/tests/config_test_config_docs` (which also",
    "     rewrites config/tsmd.conf). The unit tests fail while this file is stale. -->",
    "# Configuration",
    "",
    "Every setting has a built-in default; each of these sources overrides the ones",
    "before it:",
    "",
    "1. the built-in default (the table below),",
    "2. the config file given with `--config FILE` (`config/tsmd.conf` is the",
    "   documented default file: every setting at its default),",
    "3. the environment: `TSMD_` and the setting's name in upper case with `.` as `_`",
    "   (`http.idle_timeout` is `TSMD_HTTP_IDLE_TIMEOUT`),",
    "4. `--set section.key=value` on the command line, repeatable; the last one wins.",
    "",
    "`tsmd client ...` reads the same settings the same way.",
    "",
    "## The file",
    "",
    "```ini",
    "# a comment line",
    "kafka.brokers = broker1:9092,broker2:9092",
    "",
    "[redis]",
    "host = 10.0.0.5",
    "port = 6380",
    "",
    "[detector]",
    "heartbeat_timeout = 7200",
    "heartbeat_timeout.TSGW = 300",
    "",
    "[librdkafka]",
    "security.protocol = SASL_SSL",
    "```",
    "",
    "- `key = value` lines; inside a `[section]` the key is relative to it",
    "  (`[redis]` then `port = 6380` sets `redis.port`). Full names",
    "  (`redis.port = 6380`) work before the first section header.",
    "- A line whose first non-blank character is `#` is a comment; blank lines are",
    "  ignored. There are no comments after a value: the value is everything after",
    "  the first `=`, white space trimmed at both ends, with no quoting or escapes, so",
    "  that a password may contain `#`.",
    "- An empty value is written `key =`. A later line overrides an earlier one.",
    "- A section must be the beginning of some setting's name: `[kafka]`, `[redis]`,",
    "  `[detector.heartbeat_timeout]`, `[librdkafka]`, ...",
    "",
    "## The environment",
    "",
    "Names are matched against the table, so underscores inside a key are not",
    "ambiguous: `TSMD_KAFKA_GROUP_ID` is `kafka.group_id`. A per-prefix heartbeat",
    "timeout is `TSMD_DETECTOR_HEARTBEAT_TIMEOUT_<PREFIX>`, the prefix taken as",
    "written: `TSMD_DETECTOR_HEARTBEAT_TIMEOUT_TSGW=300` sets",
    "`detector.heartbeat_timeout.TSGW`. `librdkafka.*` properties cannot be set from",
    "the environment (their names contain dots and underscores, so the mapping would",
    "be guesswork): a `TSMD_LIBRDKAFKA_...` variable is an error; use the file or",
    "`--set`.",
    "",
    "Other `TSMD_` variables that name no setting are ignored, because tools and",
    "tests use that prefix for their own variables (`TSMD_SOURCE_DIR`,",
    "`TSMD_TEST_...`). A misspelled variable is therefore ignored",
    "too, unlike a misspelled key in the file or in `--set`.",
    "",
    "## Values and errors",
    "",
    "- Integers are plain decimal (`300`, not `5m` or `0x12c`), within the bounds below.",
    "- Booleans: `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0` (any case).",
    "- No value may contain control characters.",
    "",
    "An unknown key, an unknown section, a malformed line, an unreadable file or a bad",
    "value stops tsmd before it starts anything, with exit status 2 and one log line",
    "on stderr, `level=error msg=\"bad setting\" error=\"config: ...\"`, naming the key,",
    "what is wrong and where the value came from (`FILE:LINE`, `env VARIABLE` or",
    "`--set`); these are the texts of `error`:",
    "",
    "```",
    "config: http.idle_timeout: \"abc\" is not an integer (--set)",
    "config: redis.port: 70000 is out of range 1..65535 (/etc/tsmd/tsmd.conf:12)",
    "config: detector.clock: \"Event\" is not one of wall|event (env TSMD_DETECTOR_CLOCK)",
    "config: http.idle_timout: unknown setting (--set)",
    "```",
    "",
    "`librdkafka.*` properties are checked by librdkafka itself (on a configuration",
    "that is never used) before anything starts, with the same exit status:",
    "`config: librdkafka.bogus.prop: No such configuration property: \"bogus.prop\"`.",
    "",
    "## Checking without starting",
    "",
    "`tsmd --check-config [--config FILE] [--set ...]` reads the settings exactly as",
    "the daemon would, connects to nothing, and exits 0 (`config ok` on stdout) or 2",
    "with one line per bad setting, not just the first. Secret files",
    "(`redis.password_file`, `auth.bootstrap_client_file`) are read, so their",
    "errors show too.",
    "",
    "## Changing settings without a restart",
    "",
    "SIGHUP (`systemctl reload tsmd`) reads the file, the environment and the",
    "`--set` flags again. These settings take effect at once: `log.level`,",
    "`detector.heartbeat_timeout` and its `.PREFIX` forms, `detector.gateway_timeout`",
    "and `detector.max_clock_skew` (every thing is rescheduled; a deadline already",
    "passed under the new timeout opens its window right away),",
    "`alertmanager.labels` (for windows that open from then on: a window keeps",
    "the labels it opened with) and `alertmanager.resend_interval`. Each line",
    "`msg=\"setting changed\" key=... from=... to=...` says what was applied. Every",
    "other setting keeps its running value until a restart, and each one that",
    "changed is logged as `level=warn msg=\"setting needs a restart\" key=...",
    "running=... new=...` (secrets as `***`). A file with an error is logged",
    "(`msg=\"reload failed, settings unchanged\"`) and changes nothing; the process",
    "never stops on SIGHUP.",
    "",
    "## Settings",
    "",
    NULL,
};

static const char *type_name(const cfg_row_t *row)
{
    switch (row->type) {
    case CFG_STRING:
        return "string";
    case CFG_INT:
        return "integer";
    case CFG_BOOL:
        return "boolean";
    case CFG_ENUM:
        return "one of";
    case CFG_HOSTPORT:
        return "host:port";
    case CFG_INT_LIST:
        return "integer list";
    case CFG_PREFIX_INT:
        return "integer per prefix";
    case CFG_PASSTHROUGH:
        return "librdkafka property";
    }
    return "?";
}

/* Writes what values the row accepts ("1..86400", "wall|event", ...). */
static void allowed(FILE *f, const cfg_row_t *row)
{
    long long lo = (long long)row->min, hi = (long long)row->max;
    switch (row->type) {
    case CFG_STRING:
        if (lo > 0)
            fprintf(f, "%lld..%lld bytes", lo, hi);
        else
            fprintf(f, "up to %lld bytes", hi);
        break;
    case CFG_INT:
    case CFG_PREFIX_INT:
        fprintf(f, "%lld..%lld", lo, hi);
        break;
    case CFG_BOOL:
        fputs("on/off", f);
        break;
    case CFG_ENUM:
        fputs(row->choices, f);
        break;
    case CFG_HOSTPORT:
        fprintf(f, "port %lld..%lld", lo, hi);
        break;
    case CFG_INT_LIST:
        fprintf(f, "up to %d of %lld..%lld", CFG_LIST_MAX, lo, hi);
        break;
    case CFG_PASSTHROUGH:
        fputs("any", f);
        break;
    }
}

/* Writes s with '|' escaped for a markdown table cell. */
static void cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

/* Writes the environment variable of a row, or "-" when it has none. */
static void env_name(FILE *f, const cfg_row_t *row)
{
    if (row->type == CFG_PASSTHROUGH) {
        fputs("-", f);
        return;
    }
    fputs("`TSMD_", f);
    for (const char *p = row->name; *p; p++)
        fputc(*p == '.' ? '_' : toupper((unsigned char)*p), f);
    fputs("`", f);
}

void cfg_write_markdown(FILE *f)
{
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    for (size_t i = 0; preamble[i]; i++)
        fprintf(f, "%s\n", preamble[i]);
    fputs("| key | type | default | allowed | environment | meaning |\n", f);
    fputs("|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < n; i++) {
        const cfg_row_t *row = &rows[i];
        fprintf(f, "| `%s` | %s | ", row->name, type_name(row));
        if (cfg_row_stem_len(row))
            fputs("-", f);
        else if (row->def[0] == 0)
            fputs("(empty)", f);
        else
            fprintf(f, "`%s`", row->def);
        fputs(" | ", f);
        if (row->type == CFG_ENUM) {
            fputs("`", f);
            cell(f, row->choices);
            fputs("`", f);
        } else {
            allowed(f, row);
        }
        fputs(" | ", f);
        env_name(f, row);
        fputs(" | ", f);
        cell(f, row->doc);
        fputs(" |\n", f);
    }
}

/* Writes text as "# " comment lines of at most 79 columns, dropping backticks. */
static void comment(FILE *f, const char *text)
{
    const size_t width = 77;
    size_t col = 0;
    while (*text) {
        while (*text == ' ')
            text++;
        size_t len = strcspn(text, " ");
        if (len == 0) break;
        if (col > 0 && col + 1 + len > width) {
            fputc('\n', f);
            col = 0;
        }
        fputs(col == 0 ? "# " : " ", f);
        for (size_t i = 0; i < len; i++)
            if (text[i] != '`') fputc(text[i], f);
        col += len + 1;
        text += len;
    }
    if (col > 0) fputc('\n', f);
}

/* Writes one setting of tsmd.conf: its doc, its kind and bounds, its line. */
static void conf_row(FILE *f, const cfg_row_t *row, size_t section_len)
{
    const char *key = row->name + section_len + 1;
    comment(f, row->doc);
    fprintf(f, "# (%s", type_name(row));
    if (row->type == CFG_ENUM)
        fputc(' ', f);
    else
        fputs(": ", f);
    allowed(f, row);
    fputs(")\n", f);
    if (row->type == CFG_PREFIX_INT)
        fprintf(f, "#%.*sTSGW = 300\n", (int)(cfg_row_stem_len(row) - section_len - 1), key);
    else if (row->type == CFG_PASSTHROUGH)
        fputs("#security.protocol = SASL_SSL\n", f);
    else if (row->def[0] == 0)
        fprintf(f, "%s =\n", key);
    else
        fprintf(f, "%s = %s\n", key, row->def);
}

void cfg_write_conf(FILE *f)
{
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    fputs("# tsmd.conf - every setting of tsmd at its default value.\n"
          "#\n"
          "# Generated from config/table.c by cfg_write_conf(); to regenerate, run\n"
          "#   TSMD_REGENERATE_DOCS=1 build/tests/config_test_config_docs\n"
          "# docs/CONFIG.md explains the format, the environment variables\n"
          "# (TSMD_SECTION_KEY) and the precedence: built-in default < this file\n"
          "# (--config FILE) < environment < --set key=value.\n",
          f);
    const char *section = "";
    size_t section_len = 0;
    for (size_t i = 0; i < n; i++) {
        /* The section is the name up to its first dot ("detector"), or for a
         * family the stem when it has more than one dot ("librdkafka"). */
        size_t len = strcspn(rows[i].name, ".");
        if (len != section_len || strncmp(section, rows[i].name, len) != 0) {
            section = rows[i].name;
            section_len = len;
            fprintf(f, "\n[%.*s]\n", (int)len, section);
        }
        fputc('\n', f);
        conf_row(f, &rows[i], section_len);
    }
}
