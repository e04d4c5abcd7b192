/* test_am_payload.c - the alerts Alertmanager gets (am_payload.h): labels,
 * annotation and times of a window, static labels, and the POST body built
 * from queue entries. The JSON is parsed back with jansson, as Alertmanager
 * would read it. */
#include "engine/ingest/am_payload.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

/* The time 2026-12-03T10:00:00Z. */
#define T0 1796292000u

static void entry(char *out, size_t cap, const eng_am_alert_t *a, const eng_am_labels_t *l,
                  bool open, uint32_t to, uint64_t enq)
{
    eng_am_buf_t body = {0};
    eng_am_alert_body(&body, a, l);
    char head[ENG_AM_HEAD_LEN + 1] = {0}, ends[48] = "";
    eng_am_entry_head(head, a->from, open, enq);
    if (!open) eng_am_ends_suffix(ends, to);
    snprintf(out, cap, "%s%s%s", head, body.data, ends);
    eng_am_buf_free(&body);
}

/* Builds the POST body of entries and parses it. */
static json_t *post(const char **entries, size_t n, uint32_t ends_open, size_t *written)
{
    size_t lens[16];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(entries[i]);
    eng_am_buf_t out = {0};
    *written = eng_am_post_body(&out, entries, lens, n, ends_open);
    json_error_t err;
    json_t *j = json_loads(out.data, 0, &err);
    cr_assert_not_null(j, "POST body is not JSON (%s): %s", err.text, out.data);
    eng_am_buf_free(&out);
    return j;
}

static const char *label(json_t *alert, const char *name)
{
    return json_string_value(json_object_get(json_object_get(alert, "labels"), name));
}

Test(am_payload, sensor_alert_has_the_labels_times_and_summary)
{
    eng_am_labels_t statics;
    char why[128];
    cr_assert_eq(eng_am_labels_parse(&statics, "env=prod,team=iot", why, sizeof why), 0);
    eng_am_alert_t a = {"TSSN01", 6, false, "north", "TSGW01", 6, T0};
    char e[2048];
    entry(e, sizeof e, &a, &statics, true, 0, 1);
    const char *es[] = {e};
    size_t n;
    json_t *j = post(es, 1, T0 + 240, &n);
    cr_assert_eq(n, 1);
    json_t *al = json_array_get(j, 0);
    cr_assert_str_eq(label(al, "alertname"), "HeartbeatMissed");
    cr_assert_str_eq(label(al, "tuid"), "TSSN01");
    cr_assert_str_eq(label(al, "alert_type"), "heartbeat missed");
    cr_assert_str_eq(label(al, "group"), "north");
    cr_assert_str_eq(label(al, "gateway"), "TSGW01");
    cr_assert_str_eq(label(al, "env"), "prod");
    cr_assert_str_eq(label(al, "team"), "iot");
    cr_assert_eq(json_object_size(json_object_get(al, "labels")), 7);
    cr_assert_str_eq(json_string_value(json_object_get(al, "startsAt")), "2026-12-03T10:00:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(al, "endsAt")), "2026-12-03T10:04:00Z");
    const char *summary =
        json_string_value(json_object_get(json_object_get(al, "annotations"), "summary"));
    cr_assert(strstr(summary, "TSSN01") && strstr(summary, "heartbeat") &&
                  strstr(summary, "2026-12-03T10:00:00Z"),
              "summary names thing, type and since when: %s", summary);
    json_decref(j);
    eng_am_labels_free(&statics);
}

Test(am_payload, gateway_alert_has_no_gateway_label_and_ends_at_to_when_closed)
{
    eng_am_alert_t a = {"TSGW01", 6, true, "unassigned", "TSGW09", 6, T0};
    char e[2048];
    entry(e, sizeof e, &a, NULL, false, T0 + 3600, 1);
    const char *es[] = {e};
    size_t n;
    json_t *j = post(es, 1, T0 + 99999, &n);
    json_t *al = json_array_get(j, 0);
    cr_assert_str_eq(label(al, "alertname"), "GatewayConnectionLost");
    cr_assert_str_eq(label(al, "alert_type"), "gateway connection lost");
    cr_assert_str_eq(label(al, "group"), "unassigned");
    cr_assert_null(label(al, "gateway"), "a gateway's own alert names no gateway");
    cr_assert_str_eq(json_string_value(json_object_get(al, "endsAt")), "2026-12-03T11:00:00Z",
                     "a closed window ends at its to, not at now + 4 intervals");
    json_decref(j);
}

Test(am_payload, label_values_are_escaped)
{
    eng_am_alert_t a = {"S.1", 3, false, "a\"b\\c", NULL, 0, 0};
    char e[2048];
    entry(e, sizeof e, &a, NULL, true, 0, 1);
    const char *es[] = {e};
    size_t n;
    json_t *j = post(es, 1, T0, &n);
    json_t *al = json_array_get(j, 0);
    cr_assert_str_eq(label(al, "group"), "a\"b\\c");
    cr_assert_null(label(al, "gateway"), "a sensor without a known parent names none");
    cr_assert_str_eq(json_string_value(json_object_get(al, "startsAt")), "1970-01-01T00:00:00Z");
    json_decref(j);
}

Test(am_payload, static_labels_never_replace_built_in_ones)
{
    eng_am_labels_t l;
    char why[128];
    cr_assert_eq(eng_am_labels_parse(&l, "tuid=x", why, sizeof why), -1);
    cr_assert(strstr(why, "tuid"), "%s", why);
    cr_assert_eq(eng_am_labels_parse(&l, "alertname=x", why, sizeof why), -1);
    cr_assert_eq(eng_am_labels_parse(&l, "9lives=x", why, sizeof why), -1);
    cr_assert_eq(eng_am_labels_parse(&l, "novalue", why, sizeof why), -1);
    cr_assert_eq(eng_am_labels_parse(&l, "", why, sizeof why), 0);
    cr_assert_eq(l.n, 0);
}

Test(am_payload, window_opened_and_closed_in_one_post_is_sent_once_with_both_ends)
{
    eng_am_alert_t g = {"TSGW01", 6, true, "unassigned", NULL, 0, T0};
    eng_am_alert_t s = {"TSSN01", 6, false, "unassigned", "TSGW01", 6, T0};
    char e1[2048], e2[2048], e3[2048];
    entry(e1, sizeof e1, &g, NULL, true, 0, 1);
    entry(e2, sizeof e2, &s, NULL, true, 0, 2);
    entry(e3, sizeof e3, &g, NULL, false, T0 + 60, 3);
    const char *es[] = {e1, e2, e3};
    size_t n;
    json_t *j = post(es, 3, T0 + 999, &n);
    cr_assert_eq(n, 2, "the gateway's open is folded into its close");
    cr_assert_str_eq(label(json_array_get(j, 0), "tuid"), "TSSN01");
    json_t *gw = json_array_get(j, 1);
    cr_assert_str_eq(label(gw, "tuid"), "TSGW01");
    cr_assert_str_eq(json_string_value(json_object_get(gw, "startsAt")), "2026-12-03T10:00:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(gw, "endsAt")), "2026-12-03T10:01:00Z");
    json_decref(j);
}

Test(am_payload, a_later_window_is_not_folded_into_an_earlier_close)
{
    eng_am_alert_t w1 = {"TSSN01", 6, false, "g", NULL, 0, T0};
    eng_am_alert_t w2 = {"TSSN01", 6, false, "g", NULL, 0, T0 + 100};
    char e1[2048], e2[2048];
    entry(e1, sizeof e1, &w1, NULL, false, T0 + 100, 1);
    entry(e2, sizeof e2, &w2, NULL, true, 0, 2);
    const char *es[] = {e1, e2};
    size_t n;
    json_t *j = post(es, 2, T0 + 999, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 1), "endsAt")),
                     "2026-12-03T10:16:39Z", "the later window stays open, after the close");
    json_decref(j);
}

Test(am_payload, entry_head_reads_back)
{
    char head[ENG_AM_HEAD_LEN + 8] = {0};
    eng_am_entry_head(head, T0, false, 1796292000123ull);
    strcat(head, "{}");
    uint32_t from;
    bool open;
    uint64_t enq;
    cr_assert(eng_am_entry_parse(head, strlen(head), &from, &open, &enq));
    cr_assert_eq(from, T0);
    cr_assert(!open);
    cr_assert_eq(enq, 1796292000123ull);
    cr_assert(!eng_am_entry_parse("garbage", 7, &from, &open, &enq));
}
