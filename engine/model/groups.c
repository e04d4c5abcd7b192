/* groups.c - thing -> group, with interned names; see groups.h.
 * Memory: one uint32 per thing up to the highest thing that ever had a
 * group (nothing while no thing has one), plus each distinct name once. */
#include "engine/model/groups.h"

#include "engine/base/log.h"

#include <string.h>

struct eng_groups_s {
    uint32_t *by_thing; /* name index + 1, 0 = unassigned */
    size_t nthings;
    char **names;
    size_t nnames, names_cap;
};

eng_groups_t *eng_groups_new(void)
{
    return eng_calloc(1, sizeof(eng_groups_t));
}

void eng_groups_free(eng_groups_t *groups)
{
    for (size_t i = 0; i < groups->nnames; i++)
        free(groups->names[i]);
    free(groups->names);
    free(groups->by_thing);
    free(groups);
}

/* Returns the index + 1 of name, adding it. Groups are few (an operator
 * creates them), so a linear search is the simple choice. */
static uint32_t intern(eng_groups_t *groups, const char *name)
{
    for (size_t i = 0; i < groups->nnames; i++)
        if (strcmp(groups->names[i], name) == 0) return (uint32_t)i + 1;
    if (groups->nnames == groups->names_cap) {
        groups->names_cap = groups->names_cap ? groups->names_cap * 2 : 16;
        groups->names = eng_realloc(groups->names, groups->names_cap * sizeof *groups->names);
    }
    groups->names[groups->nnames++] = eng_strdup(name);
    return (uint32_t)groups->nnames;
}

void eng_groups_set(eng_groups_t *groups, uint32_t thing, const char *group)
{
    bool none = group == NULL || group[0] == 0 || strcmp(group, "unassigned") == 0;
    if (none && thing >= groups->nthings) return;
    if (thing >= groups->nthings) {
        size_t n = groups->nthings ? groups->nthings : 1024;
        while (n <= thing)
            n *= 2;
        groups->by_thing = eng_realloc(groups->by_thing, n * sizeof *groups->by_thing);
        memset(groups->by_thing + groups->nthings, 0, (n - groups->nthings) * sizeof(uint32_t));
        groups->nthings = n;
    }
    groups->by_thing[thing] = none ? 0 : intern(groups, group);
}

const char *eng_groups_get(const eng_groups_t *groups, uint32_t thing)
{
    if (thing >= groups->nthings || groups->by_thing[thing] == 0) return "unassigned";
    return groups->names[groups->by_thing[thing] - 1];
}
