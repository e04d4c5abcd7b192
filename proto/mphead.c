/* mphead.c - the table of the MessagePack headers 0xc4..0xdf; see mphead.h. */
#include "proto/mphead.h"

const proto_mp_long_t proto__mp_long_heads[0xe0 - 0xc4] = {
    {PROTO_MP_BIN, 2, 1},   {PROTO_MP_BIN, 3, 2},   {PROTO_MP_BIN, 5, 4},  /* c4-c6 */
    {PROTO_MP_EXT, 3, 1},   {PROTO_MP_EXT, 4, 2},   {PROTO_MP_EXT, 6, 4},  /* c7-c9 + type */
    {PROTO_MP_F32, 5, 4},   {PROTO_MP_F64, 9, 8},                          /* ca-cb */
    {PROTO_MP_UINT, 2, 1},  {PROTO_MP_UINT, 3, 2},  {PROTO_MP_UINT, 5, 4}, /* cc-ce */
    {PROTO_MP_UINT, 9, 8},  {PROTO_MP_INT, 2, 1},   {PROTO_MP_INT, 3, 2},  /* cf-d1 */
    {PROTO_MP_INT, 5, 4},   {PROTO_MP_INT, 9, 8},                          /* d2-d3 */
    {PROTO_MP_EXT, 2, 0},   {PROTO_MP_EXT, 2, 0},   {PROTO_MP_EXT, 2, 0},  /* d4-d6 fixext */
    {PROTO_MP_EXT, 2, 0},   {PROTO_MP_EXT, 2, 0},                          /* d7-d8 fixext */
    {PROTO_MP_STR, 2, 1},   {PROTO_MP_STR, 3, 2},   {PROTO_MP_STR, 5, 4},  /* d9-db */
    {PROTO_MP_ARRAY, 3, 2}, {PROTO_MP_ARRAY, 5, 4},                        /* dc-dd */
    {PROTO_MP_MAP, 3, 2},   {PROTO_MP_MAP, 5, 4},                          /* de-df */
};
