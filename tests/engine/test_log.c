/* test_log.c - every log line is valid logfmt: string values quoted and
 * escaped whatever they hold, numbers as given, long lines cut but closed. */
#include "engine/base/log.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Runs the logging in fn with stderr sent to a file; returns what it wrote. */
static const char *captured(void (*fn)(void))
{
    static char out[32768];
    char path[] = "/tmp/tsmd-test-log.XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, sizeof out - 1);
    close(fd);
    unlink(path);
    out[n > 0 ? n : 0] = 0;
    return out;
}

/* Returns the part of a line after its ts=... and level=... fields. */
static const char *after_level(const char *line)
{
    const char *p = strstr(line, " msg=");
    cr_assert_not_null(p, "no msg in %s", line);
    return p + 1;
}

static void quoted_value(void)
{
    ENG_ERROR("kafka setting refused", " key=%s error=\"%s\" n=%d", "bogus.prop",
              "No such configuration property: \"bogus.prop\"", 42);
}

Test(log, quotes_in_a_quoted_value_are_escaped)
{
    cr_assert_str_eq(after_level(captured(quoted_value)),
                     "msg=\"kafka setting refused\" key=\"bogus.prop\" "
                     "error=\"No such configuration property: \\\"bogus.prop\\\"\" n=42\n");
}

static void bare_value(void)
{
    ENG_WARN("odd \"msg\"", " path=%s tab=%s back=%s ctl=%s big=%llu sz=%zu pct=100%%", "/tmp/a b",
             "a\tb\nc", "C:\\x", "\x01", 18446744073709551615ull, (size_t)7);
}

Test(log, bare_string_values_are_quoted_and_control_characters_escaped)
{
    cr_assert_str_eq(after_level(captured(bare_value)),
                     "msg=\"odd \\\"msg\\\"\" path=\"/tmp/a b\" tab=\"a\\tb\\nc\" "
                     "back=\"C:\\\\x\" ctl=\"\\u0001\" big=18446744073709551615 sz=7 pct=100%\n");
}

static void precision(void)
{
    ENG_INFO("p", " tuid=%.*s rest=%s", 3, "ABCDEF", "");
}

Test(log, precision_strings_and_empty_values)
{
    cr_assert_str_eq(after_level(captured(precision)), "msg=\"p\" tuid=\"ABC\" rest=\"\"\n");
}

static void long_line(void)
{
    static char big[20000];
    memset(big, '"', sizeof big - 1);
    ENG_INFO("long", " v=%s", big);
}

/* A line longer than the buffer is cut, ends with a closing quote and a
 * newline, and has no unescaped quote inside the value. */
Test(log, a_cut_line_is_still_closed)
{
    const char *line = after_level(captured(long_line));
    size_t n = strlen(line);
    cr_assert(n > 4000 && n < 9000, "length %zu", n);
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_eq(line[n - 2], '"');
    const char *v = strstr(line, " v=\"") + 4;
    for (const char *p = v; p < line + n - 2; p += 2)
        cr_assert(p[0] == '\\' && p[1] == '"', "unescaped at %zu", (size_t)(p - v));
}

static void filtered(void)
{
    eng_log_level_t was = atomic_load(&eng_log_min);
    atomic_store(&eng_log_min, ENG_LOG_WARN);
    ENG_INFO("hidden", "%s", "");
    ENG_WARN("shown", "%s", "");
    atomic_store(&eng_log_min, was);
}

Test(log, lines_below_the_level_are_not_written)
{
    const char *out = captured(filtered);
    cr_assert_null(strstr(out, "hidden"));
    cr_assert_not_null(strstr(out, "msg=\"shown\""));
}

Test(log, level_names_parse_and_others_do_not)
{
    eng_log_level_t l;
    cr_assert_eq(eng_log_level_parse("warn", &l), 0);
    cr_assert_eq(l, ENG_LOG_WARN);
    cr_assert_eq(eng_log_level_parse("WARN", &l), -1);
    cr_assert_eq(eng_log_level_parse("verbose", &l), -1);
}

Test(log, quote_fits_its_buffer)
{
    char out[8];
    size_t n = eng_log_quote(out, sizeof out, "a\"b\"c\"d");
    cr_assert(n < sizeof out);
    cr_assert_eq(out[0], '"');
    cr_assert_eq(out[n - 1], '"');
    cr_assert_neq(out[n - 2], '\\', "%s ends in a lone escape", out);
}
