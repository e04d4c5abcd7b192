/* redis_auth.c - AUTH with or without an ACL user; see redis_auth.h. */
#include "engine/redis/redis_auth.h"

int eng_redis_auth_async(redisAsyncContext *ctx, const cfg_t *cfg, redisCallbackFn *fn, void *priv)
{
    if (cfg->redis_password == NULL || cfg->redis_password[0] == 0) return 0;
    if (cfg->redis_user && cfg->redis_user[0])
        redisAsyncCommand(ctx, fn, priv, "AUTH %s %s", cfg->redis_user, cfg->redis_password);
    else
        redisAsyncCommand(ctx, fn, priv, "AUTH %s", cfg->redis_password);
    return 1;
}

redisReply *eng_redis_auth(redisContext *c, const cfg_t *cfg)
{
    if (cfg->redis_password == NULL || cfg->redis_password[0] == 0) return NULL;
    if (cfg->redis_user && cfg->redis_user[0])
        return redisCommand(c, "AUTH %s %s", cfg->redis_user, cfg->redis_password);
    return redisCommand(c, "AUTH %s", cfg->redis_password);
}
