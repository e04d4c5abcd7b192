/* log.c - logfmt writer; see log.h.
 *
 * The caller's format is walked conversion by conversion, so that every
 * string value comes out as valid logfmt whatever it holds: a %s right after
 * `key=` is written quoted, a %s inside `key="..."` is written into those
 * quotes, and in both cases `"`, `\` and control characters are escaped
 * (\", \\, \n, \r, \t, \u00XX). Other conversions are formatted by snprintf. */
#include "engine/base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

_Atomic eng_log_level_t eng_log_min = ENG_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

typedef struct line_s {
    char buf[8192];
    size_t len;
    bool cut; /* something did not fit */
} line_t;

/* Two bytes are kept for a closing quote and the newline. */
#define LINE_ROOM (sizeof((line_t *)0)->buf - 2)

static void put(line_t *l, const char *s, size_t n)
{
    size_t room = LINE_ROOM - l->len;
    if (n > room) {
        n = room;
        l->cut = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* A line cut short inside a quoted value gets its closing quote. */
static void close_cut(line_t *l)
{
    bool quoted = false, escaped = false;
    for (size_t i = 0; i < l->len; i++) {
        char c = l->buf[i];
        if (escaped)
            escaped = false;
        else if (quoted && c == '\\')
            escaped = true;
        else if (c == '"')
            quoted = !quoted;
    }
    if (escaped) l->len--;
    if (quoted) l->buf[l->len++] = '"';
}

static void put_escaped(line_t *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c == '\r') {
            put(l, "\\r", 2);
        } else if (c == '\t') {
            put(l, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
}

size_t eng_log_quote(char *out, size_t cap, const char *s)
{
    line_t l;
    for (size_t n = strlen(s);; n = n * 3 / 4) {
        l.len = 0;
        l.cut = false;
        put(&l, "\"", 1);
        put_escaped(&l, s, n);
        put(&l, "\"", 1);
        if (!l.cut && l.len < cap) break; /* a shorter prefix until it fits */
    }
    memcpy(out, l.buf, l.len);
    out[l.len] = 0;
    return l.len;
}

const char *eng_log_level_name(eng_log_level_t level)
{
    return (unsigned)level <= ENG_LOG_ERROR ? level_names[level] : "info";
}

int eng_log_level_parse(const char *name, eng_log_level_t *level)
{
    for (int i = 0; i <= ENG_LOG_ERROR; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *level = (eng_log_level_t)i;
            return 0;
        }
    return -1;
}

/* One conversion spec: flags, width, precision, length, conversion. */
typedef struct spec_s {
    char fmt[32];
    int star_width, star_prec; /* '*' seen: an int argument comes first */
    int longs;                 /* l count; 'z' counts as 1 */
    bool size_t_len;
    char conv;
    size_t len; /* bytes of the spec in the format */
} spec_t;

static bool parse_spec(const char *p, spec_t *sp)
{
    memset(sp, 0, sizeof *sp);
    size_t i = 1, o = 1;
    sp->fmt[0] = '%';
    while (p[i] && o < sizeof sp->fmt - 2) {
        char c = p[i];
        if (c == '*') {
            if (strchr(sp->fmt, '.'))
                sp->star_prec = 1;
            else
                sp->star_width = 1;
        } else if (c == 'l') {
            sp->longs++;
        } else if (c == 'z') {
            sp->size_t_len = true;
        } else if (!strchr("-+ #0123456789.h", c)) {
            sp->conv = c;
            sp->fmt[o++] = c;
            sp->fmt[o] = 0;
            sp->len = i + 1;
            return true;
        }
        sp->fmt[o++] = c;
        i++;
    }
    return false;
}

/* Formats one non-string conversion. */
static void put_number(line_t *l, const spec_t *sp, int width, int prec, va_list *ap)
{
    char tmp[128];
    int n = -1;
#define FMT(value)                                                                                 \
    (sp->star_width && sp->star_prec ? snprintf(tmp, sizeof tmp, sp->fmt, width, prec, value)      \
     : sp->star_width                ? snprintf(tmp, sizeof tmp, sp->fmt, width, value)            \
     : sp->star_prec                 ? snprintf(tmp, sizeof tmp, sp->fmt, prec, value)             \
                                     : snprintf(tmp, sizeof tmp, sp->fmt, value))
    switch (sp->conv) {
    case 'd':
    case 'i':
        if (sp->size_t_len)
            n = FMT(va_arg(*ap, ssize_t));
        else if (sp->longs >= 2)
            n = FMT(va_arg(*ap, long long));
        else if (sp->longs == 1)
            n = FMT(va_arg(*ap, long));
        else
            n = FMT(va_arg(*ap, int));
        break;
    case 'u':
    case 'x':
    case 'X':
    case 'o':
        if (sp->size_t_len)
            n = FMT(va_arg(*ap, size_t));
        else if (sp->longs >= 2)
            n = FMT(va_arg(*ap, unsigned long long));
        else if (sp->longs == 1)
            n = FMT(va_arg(*ap, unsigned long));
        else
            n = FMT(va_arg(*ap, unsigned));
        break;
    case 'c':
        n = FMT(va_arg(*ap, int));
        break;
    case 'p':
        n = FMT(va_arg(*ap, void *));
        break;
    default: /* e f g a and their upper-case forms */
        n = FMT(va_arg(*ap, double));
        break;
    }
#undef FMT
    if (n > 0) put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Writes fmt with its arguments as logfmt, see the top of the file. */
static void put_pairs(line_t *l, const char *fmt, va_list *ap)
{
    bool in_quotes = false; /* inside a "..." the format itself opened */
    for (const char *p = fmt; *p;) {
        if (*p != '%') {
            if (*p == '"' && (p == fmt || p[-1] != '\\')) in_quotes = !in_quotes;
            put(l, p++, 1);
            continue;
        }
        if (p[1] == '%') {
            put(l, "%", 1);
            p += 2;
            continue;
        }
        spec_t sp;
        if (!parse_spec(p, &sp)) return;
        int width = sp.star_width ? va_arg(*ap, int) : 0;
        int prec = sp.star_prec ? va_arg(*ap, int) : -1;
        if (sp.conv == 's') {
            const char *s = va_arg(*ap, const char *);
            if (s == NULL) s = "(null)";
            size_t n = strlen(s);
            if (sp.star_prec && prec >= 0 && (size_t)prec < n) n = (size_t)prec;
            bool value = p > fmt && p[-1] == '=';
            bool quote = value && !in_quotes;
            if (quote) put(l, "\"", 1);
            if (value || in_quotes)
                put_escaped(l, s, n);
            else
                put(l, s, n); /* not a value: preformatted pairs, written as given */
            if (quote) put(l, "\"", 1);
        } else {
            put_number(l, &sp, width, prec, ap);
        }
        p += sp.len;
    }
}

void eng_log_write(eng_log_level_t level, const char *msg, const char *fmt, ...)
{
    line_t l;
    l.cut = false;
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(l.buf, sizeof l.buf, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, eng_log_level_name(level));
    l.len = n > 0 ? (size_t)n : 0;
    put_escaped(&l, msg, strlen(msg));
    put(&l, "\"", 1);
    va_list ap;
    va_start(ap, fmt);
    put_pairs(&l, fmt, &ap);
    va_end(ap);
    if (l.cut) close_cut(&l);
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}

void eng_log_abort(const char *file, int line, const char *what)
{
    eng_log_write(ENG_LOG_ERROR, "abort", " what=%s file=%s line=%d", what, file, line);
    abort();
}
