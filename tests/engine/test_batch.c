/* test_batch.c - number formatting of the RESP batch builder: every double
 * tsmd writes to Redis (scores, battery levels, coordinates) must parse back
 * to the same double, in the fewest decimals. */
#include "engine/redis/batch.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_fmt(double v, const char *want)
{
    char buf[32];
    int n = eng_fmt_f64(buf, v);
    buf[n] = 0;
    cr_expect_str_eq(buf, want, "%.17g", v);
}

Test(batch, formats_doubles_as_the_shortest_decimal)
{
    expect_fmt(0, "0");
    expect_fmt(87, "87");
    expect_fmt(87.5, "87.5");
    expect_fmt(87.55, "87.55");
    expect_fmt(-12.05, "-12.05");
    expect_fmt(0.05, "0.05");
    expect_fmt(-0.000123, "-0.000123");
    expect_fmt(1764118800, "1764118800");
    expect_fmt(1764118800.123, "1764118800.123");
    expect_fmt(48.858844, "48.858844");
    expect_fmt(9007199254740993.0, "9007199254740992"); /* 2^53 + 1 is not a double */
    expect_fmt(1e300, "1e+300");
    expect_fmt(0.1 + 0.2, "0.30000000000000004");
    expect_fmt(1e-7, "0.0000001");
    expect_fmt(1e-10, "1e-10");
}

/* Seeded random doubles of every magnitude and the shapes tsm messages carry:
 * each output parses back exactly, and never has more characters than the
 * 24 characters. */
Test(batch, every_formatted_double_parses_back)
{
    srand(7);
    char buf[32];
    for (int i = 0; i < 1000000; i++) {
        double v;
        switch (i % 4) {
        case 0: /* a timestamp with milliseconds */
            v = 1.7e9 + rand() % 100000000 + (rand() % 1000) / 1000.0;
            break;
        case 1: /* a percentage with one decimal */
            v = (rand() % 1001) / 10.0;
            break;
        case 2: /* a coordinate */
            v = (rand() % 360000000) / 1e6 - 180.0;
            break;
        default: { /* any bit pattern that is a finite double */
            uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v)) v = 1.5;
        }
        }
        int n = eng_fmt_f64(buf, v);
        cr_assert(n > 0 && n < 32);
        buf[n] = 0;
        cr_assert_eq(strtod(buf, NULL), v, "%s does not parse back to %.17g", buf, v);
        cr_assert_leq(n, 24, "%s", buf);
    }
}
