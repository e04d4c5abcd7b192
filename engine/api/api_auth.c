/* api_auth.c - POST /auth/client-token and the token check of every other
 * route.
 *
 * Tokens are 32 random bytes in URL-safe base64; Redis keeps only
 * P token:<hex sha256(token)> -> client id, with TTL auth.token_ttl, so a
 * lookup compares hashes and a dump of Redis yields no usable token. Secrets
 * are argon2id strings (crypto_pwhash_str) in P clients; verifying one costs
 * ~100 ms and 64 MiB, so it runs on libuv's thread pool, at most
 * AUTH_MAX_RUNNING at once, with a bounded queue (full: 503). An unknown
 * client id is verified against a dummy hash so that timing does not tell it
 * from a wrong secret, and both answer the same 401. Attempts per client id are
 * counted in P authfail:ID (a success gives its attempt back); past
 * auth.login_fail_limit in auth.login_fail_window seconds the answer is 429
 * with Retry-After until the window passes, and no secret is verified. */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define AUTH_MAX_RUNNING 2
#define AUTH_MAX_QUEUED 64
#define AUTH_SECRET_MAX 1024
#define TOKEN_BYTES 32
#define TOKEN_CHARS 43 /* URL-safe base64 of 32 bytes, no padding */

/* A hash of a secret nobody knows, with the same cost as real ones. */
static const char dummy_hash[] = "$argon2id$v=19$m=65536,t=2,p=1$Fwm8gDGWYI+2szfigDpDmQ$"
                                 "/q2M9xKKeuprPjs6mRNU0OywcS0OdgOcp8IhChK50X4";

typedef struct verify_job_s {
    uv_work_t work;
    eng_api_call_t *call;
    struct verify_job_s *next;
    char hash[crypto_pwhash_STRBYTES];
    char *secret;
    size_t secret_len;
    bool known; /* the client id exists */
    bool ok;
} verify_job_t;

struct eng_api_auth_s {
    eng_api_t *api;
    size_t running, queued;
    verify_job_t *head, *tail;
};

eng_api_auth_t *eng_api_auth_new(eng_api_t *api)
{
    if (sodium_init() < 0) ENG_OOM(); /* libsodium cannot run at all */
    eng_api_auth_t *auth = eng_calloc(1, sizeof *auth);
    auth->api = api;
    return auth;
}

static void job_free(verify_job_t *job)
{
    if (job->secret) sodium_memzero(job->secret, job->secret_len);
    free(job->secret);
    free(job);
}

size_t eng_api_auth_stop(eng_api_auth_t *auth)
{
    while (auth->head) {
        verify_job_t *job = auth->head;
        auth->head = job->next;
        auth->queued--;
        eng_api_error(job->call, 503, "shutting down");
        job_free(job);
    }
    auth->tail = NULL;
    return auth->running;
}

void eng_api_auth_free(eng_api_auth_t *auth)
{
    if (!auth) return;
    assert(auth->running == 0);
    eng_api_auth_stop(auth);
    free(auth);
}

bool eng_api_client_id_valid(const char *id, size_t len)
{
    if (len == 0 || len > 64) return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == '@'))
            return false;
    }
    return true;
}

/* ---- the token check of every route but the open ones ---- */

/* Writes the hex SHA-256 of a token (the key part of P token:H). */
static void token_key(const char *token, size_t len, char hex[crypto_hash_sha256_BYTES * 2 + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, len);
    sodium_bin2hex(hex, crypto_hash_sha256_BYTES * 2 + 1, h, sizeof h);
}

static void on_token(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_STRING || reply->len == 0 || reply->len >= sizeof call->client) {
        eng_api_error(call, 401, "missing, invalid or expired token");
        return;
    }
    memcpy(call->client, reply->str, reply->len);
    call->client[reply->len] = '\0';
    call->next(call);
}

void eng_api_auth_check(eng_api_call_t *call, void (*next)(eng_api_call_t *call))
{
    const char *h = call->req->authorization;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        eng_api_error(call, 401, "missing, invalid or expired token");
        return;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    size_t len = strlen(token);
    while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t'))
        len--;
    bool ok = len == TOKEN_CHARS;
    for (size_t i = 0; ok && i < len; i++) {
        char c = token[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_';
    }
    if (!ok) {
        eng_api_error(call, 401, "missing, invalid or expired token");
        return;
    }
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    token_key(token, len, hex);
    call->next = next;
    eng_api_redis(call, on_token, "GET %stoken:%s", call->prefix, hex);
}

/* ---- POST /auth/client-token ---- */

static void on_token_stored(eng_api_call_t *call, redisReply *reply)
{
    (void)reply;
    json_t *data = json_pack("{s:O}", "token", json_object_get(call->scratch, "token"));
    eng_api_reply(call, data);
}

/* Makes a token, stores its hash and gives the attempt back. */
static void issue_token(eng_api_call_t *call)
{
    unsigned char bin[TOKEN_BYTES];
    char token[TOKEN_CHARS + 2];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    randombytes_buf(bin, sizeof bin);
    sodium_bin2base64(token, sizeof token, bin, sizeof bin,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    token_key(token, strlen(token), hex);
    call->scratch = json_pack("{s:s}", "token", token);
    sodium_memzero(bin, sizeof bin);
    static const char give_back[] =
        "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end return 0";
    if (eng_api_redis(call, NULL, "EVAL %s 1 %sauthfail:%s", give_back, call->prefix,
                      call->client) < 0)
        return;
    eng_api_redis(call, on_token_stored, "SET %stoken:%s %s EX %lld", call->prefix, hex,
                  call->client, (long long)call->cfg->auth_token_ttl);
}

static void verify_work(uv_work_t *work)
{
    verify_job_t *job = work->data;
    const char *hash = job->known ? job->hash : dummy_hash;
    bool match = crypto_pwhash_str_verify(hash, job->secret, job->secret_len) == 0;
    job->ok = job->known && match;
}

static void auth_run_next(eng_api_auth_t *auth);

static void verify_done(uv_work_t *work, int status)
{
    verify_job_t *job = work->data;
    eng_api_auth_t *auth = job->call->api->auth;
    eng_api_call_t *call = job->call;
    bool ok = status == 0 && job->ok;
    auth->running--;
    job_free(job);
    if (status != 0) {
        eng_api_error(call, 503, "shutting down");
    } else if (ok) {
        issue_token(call);
    } else {
        eng_api_error(call, 401, "invalid client credentials");
    }
    if (auth->api->stopping) {
        eng_api_auth_idle(auth->api);
    } else {
        auth_run_next(auth);
    }
}

static void auth_run_next(eng_api_auth_t *auth)
{
    while (auth->running < AUTH_MAX_RUNNING && auth->head) {
        verify_job_t *job = auth->head;
        auth->head = job->next;
        if (!auth->head) auth->tail = NULL;
        auth->queued--;
        job->work.data = job;
        if (uv_queue_work(job->call->api->loop, &job->work, verify_work, verify_done) != 0) {
            eng_api_error(job->call, 503, "cannot verify now");
            job_free(job);
            continue;
        }
        auth->running++;
    }
}

/* Queues a verification of the secret against hash (NULL: unknown id). */
static void auth_enqueue(eng_api_call_t *call, const char *hash, size_t hash_len)
{
    eng_api_auth_t *auth = call->api->auth;
    if (auth->queued >= AUTH_MAX_QUEUED) {
        eng_api_error_hdr(call, 503, "too many logins in progress", "Retry-After: 1\r\n");
        return;
    }
    json_t *secret = json_object_get(call->body, "client_secret");
    verify_job_t *job = eng_calloc(1, sizeof *job);
    job->call = call;
    job->secret_len = json_string_length(secret);
    job->secret = eng_malloc(job->secret_len + 1);
    memcpy(job->secret, json_string_value(secret), job->secret_len + 1);
    job->known = hash && hash_len < sizeof job->hash;
    if (job->known) memcpy(job->hash, hash, hash_len + 1);
    if (auth->tail)
        auth->tail->next = job;
    else
        auth->head = job;
    auth->tail = job;
    auth->queued++;
    auth_run_next(auth);
}

/* Reply of the attempt script: {attempts, retry_after or -1, hash or nil}. */
static void on_attempt(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        eng_api_error(call, 503, "unexpected Redis reply");
        return;
    }
    long long retry = reply->element[1]->integer;
    if (retry >= 0) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "Retry-After: %lld\r\n", retry > 0 ? retry : 1);
        eng_api_error_hdr(call, 429, "too many failed logins for this client id; retry later", hdr);
        return;
    }
    redisReply *h = reply->elements > 2 ? reply->element[2] : NULL;
    bool known = h && h->type == REDIS_REPLY_STRING;
    auth_enqueue(call, known ? h->str : NULL, known ? h->len : 0);
}

void eng_api_auth_token(eng_api_call_t *call)
{
    json_t *body = eng_api_body(call);
    if (!body) return;
    json_t *id = json_object_get(body, "client_id");
    json_t *secret = json_object_get(body, "client_secret");
    if (!json_is_object(body) || !json_is_string(id) || !json_is_string(secret)) {
        eng_api_error(call, 400, "client_id and client_secret (strings) are required");
        return;
    }
    size_t idlen = json_string_length(id);
    if (json_string_length(secret) > AUTH_SECRET_MAX ||
        !eng_api_client_id_valid(json_string_value(id), idlen)) {
        /* Cannot exist whatever Redis holds (the rules are public), so the
         * quick answer tells nothing, and costs no hashing. */
        eng_api_error(call, 401, "invalid client credentials");
        return;
    }
    memcpy(call->client, json_string_value(id), idlen + 1);
    static const char attempt[] =
        "local n = redis.call('INCR', KEYS[1]) "
        "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
        "if n > tonumber(ARGV[2]) then "
        "  local t = redis.call('PTTL', KEYS[1]) "
        "  if t < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) * 1000 end "
        "  return {n, math.ceil(t / 1000)} end "
        "return {n, -1, redis.call('HGET', KEYS[2], ARGV[3])}";
    eng_api_redis(call, on_attempt, "EVAL %s 2 %sauthfail:%s %sclients %lld %lld %s", attempt,
                  call->prefix, call->client, call->prefix,
                  (long long)call->cfg->auth_login_fail_window,
                  (long long)call->cfg->auth_login_fail_limit, call->client);
}
