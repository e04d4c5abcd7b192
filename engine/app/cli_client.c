/* cli_client.c - API client management from the command line; see cli_client.h. */
#include "engine/app/cli_client.h"
#include "engine/api/api.h"
#include "engine/base/log.h"
#include "engine/redis/redis_auth.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET_MAX 1024
#define BOOTSTRAP_WAIT_S 30 /* auth.bootstrap_client waits this long for Redis */

/* Connects, authenticates and selects the db. Returns NULL after writing why. */
static redisContext *cli_connect(const cfg_t *cfg, char *err, size_t errlen)
{
    struct timeval tv = {3, 0};
    redisContext *c = redisConnectWithTimeout(cfg->redis_host, (int)cfg->redis_port, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s:%lld: %s", cfg->redis_host,
                 (long long)cfg->redis_port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    r = eng_redis_auth(c, cfg);
    if (r && r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "Redis refused the password: %s", r->str);
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    r = cfg->redis_db ? redisCommand(c, "SELECT %lld", (long long)cfg->redis_db) : NULL;
    bool bad = cfg->redis_db && (!r || r->type == REDIS_REPLY_ERROR);
    freeReplyObject(r);
    if (bad) {
        snprintf(err, errlen, "cannot select Redis db %lld", (long long)cfg->redis_db);
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Hashes a secret (argon2id, interactive limits). Returns 0 or -1. */
static int hash_secret(const char *secret, char hash[crypto_pwhash_STRBYTES])
{
    if (sodium_init() < 0) return -1;
    return crypto_pwhash_str(hash, secret, strlen(secret), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

/* HSETNX P clients id hash, hashing the secret only when the id is new.
 * Returns 1 when the client was stored, 0 when the id exists (nothing
 * changed; the secret is not hashed then), -1 on an error (its text in err). */
static int store_client(redisContext *c, const cfg_t *cfg, const char *id, const char *secret,
                        char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "HEXISTS %sclients %s", cfg->redis_prefix, id);
    int rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (rc == 0) {
        freeReplyObject(r);
        char hash[crypto_pwhash_STRBYTES];
        if (hash_secret(secret, hash) != 0) {
            snprintf(err, errlen, "out of memory hashing the secret");
            return -1;
        }
        r = redisCommand(c, "HSETNX %sclients %s %s", cfg->redis_prefix, id, hash);
        rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    } else if (rc == 1) {
        rc = 0;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s",
                 r && r->type == REDIS_REPLY_ERROR ? r->str
                 : c->err                          ? c->errstr
                                                   : "unexpected reply");
    freeReplyObject(r);
    return rc;
}

static int cli_add(redisContext *c, const cfg_t *cfg, const char *id, const char *secret)
{
    char generated[64];
    if (!secret) {
        unsigned char bin[32];
        randombytes_buf(bin, sizeof bin);
        sodium_bin2base64(generated, sizeof generated, bin, sizeof bin,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        secret = generated;
    }
    if (secret[0] == '\0' || strlen(secret) > SECRET_MAX) {
        fprintf(stderr, "tsmd: a secret is 1 to %d bytes\n", SECRET_MAX);
        return 2;
    }
    char err[256];
    int rc = store_client(c, cfg, id, secret, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "tsmd: could not store client %s: %s\n", id, err);
        return 1;
    }
    if (rc == 0) {
        fprintf(stderr, "tsmd: client %s exists (remove it first)\n", id);
        return 1;
    }
    printf("%s\n", secret);
    return 0;
}

/* Deletes the live tokens of a client (P token:* whose value is id). */
static void revoke_tokens(redisContext *c, const cfg_t *cfg, const char *id)
{
    char cursor[32] = "0";
    do {
        redisReply *r =
            redisCommand(c, "SCAN %s MATCH %stoken:* COUNT 1000", cursor, cfg->redis_prefix);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *v = redisCommand(c, "GET %s", keys->element[i]->str);
            if (v && v->type == REDIS_REPLY_STRING && strcmp(v->str, id) == 0)
                freeReplyObject(redisCommand(c, "DEL %s", keys->element[i]->str));
            freeReplyObject(v);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

static int cli_remove(redisContext *c, const cfg_t *cfg, const char *id)
{
    redisReply *r = redisCommand(c, "HDEL %sclients %s", cfg->redis_prefix, id);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (n < 0) {
        fprintf(stderr, "tsmd: could not remove client %s\n", id);
        return 1;
    }
    if (n == 0) {
        fprintf(stderr, "tsmd: no client %s\n", id);
        return 1;
    }
    revoke_tokens(c, cfg, id);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cli_list(redisContext *c, const cfg_t *cfg)
{
    redisReply *r = redisCommand(c, "HKEYS %sclients", cfg->redis_prefix);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "tsmd: could not list clients\n");
        freeReplyObject(r);
        return 1;
    }
    char **ids = eng_calloc(r->elements + 1, sizeof *ids);
    for (size_t i = 0; i < r->elements; i++)
        ids[i] = r->element[i]->str;
    qsort(ids, r->elements, sizeof *ids, cmp_str);
    for (size_t i = 0; i < r->elements; i++)
        printf("%s\n", ids[i]);
    free(ids);
    freeReplyObject(r);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: tsmd client add ID [--secret S] | remove ID | list\n");
    return 2;
}

int eng_cli_client(const cfg_t *cfg, int argc, char **argv)
{
    if (argc < 1) return usage();
    const char *verb = argv[0], *id = argc > 1 ? argv[1] : NULL, *secret = NULL;
    bool add = strcmp(verb, "add") == 0, remove = strcmp(verb, "remove") == 0;
    if (strcmp(verb, "list") == 0) {
        if (argc != 1) return usage();
    } else if (add) {
        if (argc == 4 && strcmp(argv[2], "--secret") == 0)
            secret = argv[3];
        else if (argc != 2)
            return usage();
    } else if (!remove || argc != 2) {
        return usage();
    }
    if (id && !eng_api_client_id_valid(id, strlen(id))) {
        fprintf(stderr, "tsmd: a client id is 1 to 64 of A-Z a-z 0-9 _ . - @\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "tsmd: libsodium failed to start\n");
        return 1;
    }
    char err[256];
    redisContext *c = cli_connect(cfg, err, sizeof err);
    if (!c) {
        fprintf(stderr, "tsmd: %s\n", err);
        return 1;
    }
    int status = add      ? cli_add(c, cfg, id, secret)
                 : remove ? cli_remove(c, cfg, id)
                          : cli_list(c, cfg);
    redisFree(c);
    return status;
}

int eng_auth_bootstrap(const cfg_t *cfg)
{
    const char *spec = cfg->auth_bootstrap_client;
    if (!spec || !spec[0]) return 0;
    const char *colon = strchr(spec, ':');
    char id[65];
    size_t idlen = colon ? (size_t)(colon - spec) : 0;
    if (!colon || idlen >= sizeof id || !eng_api_client_id_valid(spec, idlen) || !colon[1] ||
        strlen(colon + 1) > SECRET_MAX) {
        ENG_ERROR("bad auth.bootstrap_client", " want=\"id:secret\"");
        return -1;
    }
    memcpy(id, spec, idlen);
    id[idlen] = '\0';
    /* Redis may be starting with tsmd (not listening yet, or loading its
     * AOF: -LOADING): keep trying for BOOTSTRAP_WAIT_S before giving up. */
    char err[256];
    for (int attempt = 1;; attempt++) {
        redisContext *c = cli_connect(cfg, err, sizeof err);
        int rc = c ? store_client(c, cfg, id, colon + 1, err, sizeof err) : -1;
        redisFree(c);
        if (rc >= 0) {
            if (rc == 1) ENG_INFO("bootstrap client created", " id=%s", id);
            return 0;
        }
        if (attempt == BOOTSTRAP_WAIT_S * 2) {
            ENG_ERROR("bootstrap client failed", " id=%s err=\"%s\"", id, err);
            return -1;
        }
        if (attempt == 1) ENG_WARN("bootstrap client waiting for redis", " err=\"%s\"", err);
        struct timespec half = {0, 500 * 1000 * 1000};
        nanosleep(&half, NULL);
    }
}
