/* redis_auth.h - the AUTH every Redis connection of tsmd sends first:
 *                `AUTH password` (the default user) or, with redis.user,
 *                `AUTH user password` (Redis 6+ ACL).
 * Threads: the thread that owns the connection.
 * Ownership: the reply of eng_redis_auth() is the caller's (freeReplyObject).
 * Errors: as hiredis reports them; an error reply is the caller's to judge. */
#ifndef ENG_REDIS_AUTH_H
#define ENG_REDIS_AUTH_H

#include "config/config.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

/* Queues AUTH on ctx with fn(priv) for its reply when cfg has a password.
 * Returns 1 when queued, 0 when no AUTH is needed. */
int eng_redis_auth_async(redisAsyncContext *ctx, const cfg_t *cfg, redisCallbackFn *fn, void *priv);

/* Sends AUTH on the blocking connection c. Returns the reply, or NULL when
 * no AUTH is needed or the connection failed (c->err tells). */
redisReply *eng_redis_auth(redisContext *c, const cfg_t *cfg);

#endif
