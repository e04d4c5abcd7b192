/* member.h - the history member: how one stored message is written into its
 *   thing's ZSET P{T}:msgs and read back (format in docs/REDIS.md, "History
 *   members").
 * A member is compact: a version byte, then the message's fields in their
 *   order, with the tsm header names as one-byte codes, tsmTuid left out (the
 *   key holds it), deploymentGroupId left out when it is "unassigned",
 *   decimal floats as a scaled integer and tuid-like strings as a prefix and
 *   a number. Reading rebuilds the MessagePack map the earlier format stored
 *   as it was, so the API answers the same bytes; members of that earlier
 *   format (a plain MessagePack map) read as they are.
 * Threads: any; no shared state.
 * Ownership: the caller owns the buffers; functions only append to them.
 * Errors: proto_member_encode() never fails (out of memory aborts);
 *   proto_member_to_msgpack() returns -1 for a malformed member, with
 *   out->len back where it was. */
#ifndef PROTO_MEMBER_H
#define PROTO_MEMBER_H

#include "proto/buf.h"
#include "proto/msg.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The first byte of a member in the compact format (version 1). A member of
 * the earlier format starts with a MessagePack map header instead. */
#define PROTO_MEMBER_V1 0x01

/* The group a member carries when none is written. */
#define PROTO_MEMBER_NO_GROUP "unassigned"

/* Appends the member of msg (its fields as they came, then deploymentGroupId =
 * group[0..group_len), the group the thing is in now) to out. The same message
 * and group give the same bytes; two messages that differ give different
 * bytes. A body the compact format cannot hold (bin or ext values, which the
 * decoder never delivers) is written in the earlier format. */
void proto_member_encode(proto_buf_t *out, const proto_msg_t *msg, const char *group,
                         size_t group_len);

/* Appends the MessagePack map of the member (either format) to out: every
 * field of the message in its order, then deploymentGroupId. tuid is the
 * thing's, from the key the member was read from. Returns 0 or -1. */
int proto_member_to_msgpack(proto_buf_t *out, const void *member, size_t len, const char *tuid,
                            size_t tuid_len);

#ifdef __cplusplus
}
#endif

#endif
