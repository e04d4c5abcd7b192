/* groups.h - each tracked thing's deployment group, for the
 *            deploymentGroupId that ingest adds to every stored message.
 * Threads: loop thread only.
 * Ownership: group names are interned and live as long as the table.
 * Errors: none; out of memory aborts. */
#ifndef ENG_GROUPS_H
#define ENG_GROUPS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct eng_groups_s eng_groups_t;

eng_groups_t *eng_groups_new(void);
void eng_groups_free(eng_groups_t *groups);

/* Sets thing's group; NULL or "" or "unassigned" removes it. */
void eng_groups_set(eng_groups_t *groups, uint32_t thing, const char *group);
/* Returns thing's group, "unassigned" when it has none. */
const char *eng_groups_get(const eng_groups_t *groups, uint32_t thing);

#endif
