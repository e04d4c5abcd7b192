/* am_harness.h - a real Prometheus Alertmanager for the integration tests:
 * started on a private port with the repository's config/alertmanager.yml
 * (no cluster gossip), stopped by PID, and read through its API v2.
 * Header-only, every function static; needs TSMD_SOURCE_DIR, and
 * TSMD_TEST_ALERTMANAGER_URL for the instance scripts/test started. */
#ifndef TEST_AM_HARNESS_H
#define TEST_AM_HARNESS_H

#include "harness.h"

#include <jansson.h>

typedef struct h_am_s {
    h_proc_t proc;
    int port;
    char dir[128];
} h_am_t;

/* The port of the Alertmanager scripts/test started. */
static inline int h_am_shared_port(void)
{
    const char *url = getenv("TSMD_TEST_ALERTMANAGER_URL");
    cr_assert_not_null(url, "TSMD_TEST_ALERTMANAGER_URL is not set: run through scripts/test");
    const char *colon = strrchr(url, ':');
    cr_assert_not_null(colon, "TSMD_TEST_ALERTMANAGER_URL has no port: %s", url);
    return atoi(colon + 1);
}

/* Starts an Alertmanager (on am->port, or a free one) and waits until it is
 * ready. Its state lives in am->dir, kept across a stop and start. */
static inline void h_am_start(h_am_t *am)
{
    const char *src = getenv("TSMD_SOURCE_DIR");
    cr_assert_not_null(src, "TSMD_SOURCE_DIR is not set: run through scripts/test");
    if (am->port == 0) am->port = h_free_port();
    if (am->dir[0] == 0) snprintf(am->dir, sizeof am->dir, "/tmp/tsmd-test-am-%d", am->port);
    mkdir(am->dir, 0755);
    char cfgopt[600], storage[200], listen[64], exe[] = "/usr/bin/prometheus-alertmanager",
                                                log[200];
    snprintf(cfgopt, sizeof cfgopt, "--config.file=%s/config/alertmanager.yml", src);
    snprintf(storage, sizeof storage, "--storage.path=%s", am->dir);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", am->port);
    snprintf(log, sizeof log, "%s/alertmanager.log", am->dir);
    char *argv[] = {exe, cfgopt, storage, listen, "--cluster.listen-address=", NULL};
    am->proc = h_spawn(argv, 0, 0, log);
    double until = h_now() + 20;
    while (h_now() < until) {
        if (h_http(am->port, "GET", "/-/ready", NULL, NULL, NULL, 0) == 200) return;
        h_sleep_ms(100);
    }
    cr_assert_fail("alertmanager not ready on port %d (log: %s)", am->port, log);
}

static inline void h_am_stop(h_am_t *am)
{
    h_stop(&am->proc, SIGTERM);
}

/* Stops it for good and removes its state directory. */
static inline void h_am_done(h_am_t *am)
{
    h_am_stop(am);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", am->dir);
    cr_expect_eq(system(cmd), 0, "cannot remove %s", am->dir);
}

/* GET /api/v2/alerts?filter=test="NAME": the alerts of one test (every
 * state: active, silenced, inhibited). Returns the parsed array (decref it)
 * or NULL when Alertmanager did not answer. */
static inline json_t *h_am_alerts(int port, const char *test)
{
    static char body[1 << 20];
    char path[256];
    snprintf(path, sizeof path, "/api/v2/alerts?filter=test%%3D%%22%s%%22", test);
    if (h_http(port, "GET", path, NULL, NULL, body, sizeof body) != 200) return NULL;
    return json_loads(body, 0, NULL);
}

/* The alert of alerts with that alertname and tuid, or NULL (borrowed). */
static inline json_t *h_am_find(json_t *alerts, const char *alertname, const char *tuid)
{
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        json_t *l = json_object_get(a, "labels");
        if (strcmp(json_string_value(json_object_get(l, "alertname")), alertname) == 0 &&
            strcmp(json_string_value(json_object_get(l, "tuid")), tuid) == 0)
            return a;
    }
    return NULL;
}

static inline const char *h_am_label(json_t *alert, const char *name)
{
    return json_string_value(json_object_get(json_object_get(alert, "labels"), name));
}

/* Waits until the test's alerts are exactly the `want` "Alertname/tuid"
 * pairs (space-separated); fails with what Alertmanager holds. */
static inline void h_am_wait_alerts(int port, const char *test, const char *want, double timeout_s)
{
    double until = h_now() + timeout_s;
    char got[2048] = "";
    for (;;) {
        json_t *a = h_am_alerts(port, test);
        int n = 0, matched = 0;
        got[0] = 0;
        if (a) {
            size_t i;
            json_t *al;
            json_array_foreach(a, i, al)
            {
                char one[160];
                snprintf(one, sizeof one, "%s/%s", h_am_label(al, "alertname"),
                         h_am_label(al, "tuid"));
                strncat(got, one, sizeof got - strlen(got) - 2);
                strcat(got, " ");
                n++;
                const char *p = strstr(want, one);
                size_t len = strlen(one);
                if (p && (p == want || p[-1] == ' ') && (p[len] == 0 || p[len] == ' ')) matched++;
            }
            json_decref(a);
        }
        int wanted = 0;
        for (const char *p = want; *p; p++)
            wanted += *p != ' ' && (p == want || p[-1] == ' ');
        if (a && n == wanted && matched == wanted) return;
        if (h_now() > until) break;
        h_sleep_ms(200);
    }
    cr_assert_fail("alertmanager on port %d holds \"%s\", expected \"%s\"", port, got, want);
}

/* Sum of a metric of Alertmanager's own /metrics over the series whose
 * line contains `match` (e.g. "status=\"resolved\""), or -1. */
static inline double h_am_metric(int port, const char *name, const char *match)
{
    static char body[1 << 20];
    if (h_http(port, "GET", "/metrics", NULL, NULL, body, sizeof body) != 200) return -1;
    size_t n = strlen(name);
    double sum = 0;
    for (char *line = body; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : 0) {
        if (strncmp(line, name, n) != 0 || (line[n] != '{' && line[n] != ' ')) continue;
        char *end = strchr(line, '\n');
        char *sp = end ? end : line + strlen(line);
        while (sp > line && sp[-1] != ' ')
            sp--;
        if (match && !(memmem(line, (size_t)(sp - line), match, strlen(match)))) continue;
        sum += atof(sp);
    }
    return sum;
}

#endif
