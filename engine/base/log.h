/* log.h - logfmt lines on stderr: ts=... level=info msg="..." k=v.
 *         String values are quoted and escaped by the writer itself (see
 *         eng_log_write), so any text can be logged as a value.
 * Threads: any thread; each line is written with one write(2) call.
 * Ownership: nothing is kept; the format arguments are used at once.
 * Errors: none; a failed write is ignored (stderr is all there is). */
#ifndef ENG_LOG_H
#define ENG_LOG_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef enum eng_log_level_e {
    ENG_LOG_DEBUG,
    ENG_LOG_INFO,
    ENG_LOG_WARN,
    ENG_LOG_ERROR
} eng_log_level_t;

/* The lowest level written: the log.level setting, set at start and on
 * SIGHUP by the main thread, read by every thread. */
extern _Atomic eng_log_level_t eng_log_min;

/* Writes s as a quoted, escaped logfmt value into out (at most cap - 1
 * bytes and a NUL; cap >= 3). Returns its length. For callers that build
 * pairs themselves and log them with a bare "%s". */
size_t eng_log_quote(char *out, size_t cap, const char *s);

/* Returns "debug", "info", "warn" or "error". */
const char *eng_log_level_name(eng_log_level_t level);
/* Parses one of those names into *level. Returns 0, or -1 for another. */
int eng_log_level_parse(const char *name, eng_log_level_t *level);

/* Writes one line: ts, level, msg="msg" and then fmt, which must format the
 * rest as logfmt pairs (" key=value ..."; may be ""). A %s right after `key=`
 * is written as a quoted, escaped value; a %s inside `key="..."` is escaped
 * into those quotes; a %s elsewhere (not a value) is written as it is.
 * Lines longer than 8 KiB are cut, still valid logfmt. Call through ENG_LOG. */
void eng_log_write(eng_log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks the level before any formatting happens. */
#define ENG_LOG(level, msg, ...)                                                                   \
    do {                                                                                           \
        if ((level) >= eng_log_min) eng_log_write((level), (msg), __VA_ARGS__);                    \
    } while (0)
#define ENG_DEBUG(msg, ...) ENG_LOG(ENG_LOG_DEBUG, msg, __VA_ARGS__)
#define ENG_INFO(msg, ...) ENG_LOG(ENG_LOG_INFO, msg, __VA_ARGS__)
#define ENG_WARN(msg, ...) ENG_LOG(ENG_LOG_WARN, msg, __VA_ARGS__)
#define ENG_ERROR(msg, ...) ENG_LOG(ENG_LOG_ERROR, msg, __VA_ARGS__)

/* Out of memory and broken invariants: log file and line, then abort. */
#define ENG_OOM() eng_log_abort(__FILE__, __LINE__, "out of memory")
void eng_log_abort(const char *file, int line, const char *what) __attribute__((noreturn));

/* Allocation helpers that abort with file and line instead of returning NULL. */
#define eng_malloc(n) eng_xcheck(malloc(n), __FILE__, __LINE__)
#define eng_calloc(n, s) eng_xcheck(calloc((n), (s)), __FILE__, __LINE__)
#define eng_realloc(p, n) eng_xcheck(realloc((p), (n)), __FILE__, __LINE__)
#define eng_strdup(s) eng_xcheck(strdup(s), __FILE__, __LINE__)
static inline void *eng_xcheck(void *p, const char *file, int line)
{
    if (p == 0) eng_log_abort(file, line, "out of memory");
    return p;
}

#endif
