/* reload.c - reading the settings again and comparing them; see reload.h. */
#include "engine/app/reload.h"

#include "engine/ingest/kafka_conf.h"
#include "engine/base/log.h"

#include <string.h>

/* Every setting of one cfg_t as text. */
typedef struct kv_list_s {
    struct {
        char *key, *value;
        bool secret;
    } * v;
    size_t n;
} kv_list_t;

static void collect(void *arg, const char *key, const char *value, bool secret)
{
    kv_list_t *l = arg;
    l->v = eng_realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n].key = eng_strdup(key);
    l->v[l->n].value = eng_strdup(value);
    l->v[l->n].secret = secret;
    l->n++;
}

static void list_free(kv_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
}

/* Returns the value of key in l, or NULL when it has none (a family entry). */
static const char *find(const kv_list_t *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0) return l->v[i].value;
    return NULL;
}

static void log_bad(void *arg, const char *line)
{
    (void)arg;
    ENG_ERROR("reload failed, settings unchanged", " error=%s", line);
}

cfg_t *eng_reload_read(const eng_reload_src_t *src)
{
    cfg_t *next = eng_calloc(1, sizeof *next);
    char err[CFG_ERR_MAX];
    if (cfg_load(next, src->path, src->envp, src->sets, src->nsets, err) != 0) {
        log_bad(NULL, err);
        free(next);
        return NULL;
    }
    if (eng_kafka_conf_check(next, log_bad, NULL) != 0) {
        cfg_free(next);
        free(next);
        return NULL;
    }
    return next;
}

/* Handles one key present in next (now != NULL) or gone from it (now NULL). */
static void compare(const char *key, const char *now, bool secret, const kv_list_t *started,
                    const kv_list_t *live, eng_reload_diff_t *diff)
{
    bool is_live = cfg_key_is_live(key);
    const char *was = find(is_live ? live : started, key);
    if ((was == NULL && now == NULL) || (was && now && strcmp(was, now) == 0)) return;
    const char *shown_was = !was ? "(unset)" : secret && was[0] ? "***" : was;
    const char *shown_now = !now ? "(unset)" : secret && now[0] ? "***" : now;
    if (!is_live) {
        diff->restart++;
        ENG_WARN("setting needs a restart", " key=%s running=%s new=%s", key, shown_was, shown_now);
        return;
    }
    diff->applied++;
    if (strcmp(key, "log.level") == 0)
        diff->log_level = true;
    else
        diff->detector = true;
    ENG_INFO("setting changed", " key=%s from=%s to=%s", key, shown_was, shown_now);
}

void eng_reload_diff(const cfg_t *started, const cfg_t *live, const cfg_t *next,
                     eng_reload_diff_t *diff)
{
    kv_list_t s = {0}, l = {0}, n = {0};
    cfg_each(started, collect, &s);
    cfg_each(live, collect, &l);
    cfg_each(next, collect, &n);
    memset(diff, 0, sizeof *diff);
    for (size_t i = 0; i < n.n; i++)
        compare(n.v[i].key, n.v[i].value, n.v[i].secret, &s, &l, diff);
    /* Family entries (PREFIX timeouts, librdkafka.*) that are gone. */
    for (size_t i = 0; i < s.n; i++)
        if (!cfg_key_is_live(s.v[i].key) && !find(&n, s.v[i].key))
            compare(s.v[i].key, NULL, s.v[i].secret, &s, &l, diff);
    for (size_t i = 0; i < l.n; i++)
        if (cfg_key_is_live(l.v[i].key) && !find(&n, l.v[i].key))
            compare(l.v[i].key, NULL, l.v[i].secret, &s, &l, diff);
    list_free(&s);
    list_free(&l);
    list_free(&n);
}
