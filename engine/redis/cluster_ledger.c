/* cluster_ledger.c - per-node split and in-order ack of batches; see cluster_ledger.h. */
#include "engine/redis/cluster_ledger.h"

#include "engine/base/log.h"

#include <assert.h>
#include <string.h>

void eng_ledger_init(eng_ledger_t *ledger, bool wait)
{
    memset(ledger, 0, sizeof *ledger);
    ledger->wait = wait;
}

void eng_ledger_close(eng_ledger_t *ledger)
{
    for (size_t i = 0; i < ENG_LEDGER_BATCHES; i++) {
        free(ledger->entries[i].cmds);
        free(ledger->entries[i].order);
        free(ledger->entries[i].node);
    }
    memset(ledger, 0, sizeof *ledger);
}

bool eng_ledger_full(const eng_ledger_t *ledger)
{
    return ledger->count == ENG_LEDGER_BATCHES;
}

size_t eng_ledger_count(const eng_ledger_t *ledger)
{
    return ledger->count;
}

static eng_ledger_entry_t *entry_at(eng_ledger_t *ledger, size_t i)
{
    return &ledger->entries[(ledger->head + i) % ENG_LEDGER_BATCHES];
}

/* Splits the commands of entry not yet done into parts, one per node, each
 * keeping batch order. */
static void entry_split(eng_ledger_entry_t *entry, const int16_t *owner, int16_t fallback)
{
    uint32_t ncmds = entry->batch->ncmds;
    int16_t node_of_part[ENG_LEDGER_MAX_NODES];
    uint32_t count[ENG_LEDGER_MAX_NODES] = {0};
    int16_t *node = entry->node;
    int16_t prev = -1;
    entry->nparts = 0;
    /* a keyless command (PUBLISH) goes with the keyed one before it, so that
     * a subscriber hears of a write after it landed; a leading one with the
     * first keyed command */
    for (uint32_t i = 0; i < ncmds; i++) {
        const eng_ledger_cmd_t *c = &entry->cmds[i];
        int16_t n = c->slot >= 0 ? owner[c->slot] : -1;
        if (n < 0 && c->slot >= 0) n = fallback;
        if (c->slot < 0) n = prev;
        if (c->ask >= 0) n = c->ask;
        node[i] = n;
        if (c->slot >= 0) prev = n;
    }
    for (uint32_t i = ncmds; i-- > 0;) {
        if (node[i] >= 0)
            prev = node[i];
        else
            node[i] = prev >= 0 ? prev : fallback;
    }
    for (uint32_t i = 0; i < ncmds; i++) {
        if (entry->cmds[i].done) continue;
        int p = 0;
        while (p < entry->nparts && node_of_part[p] != node[i])
            p++;
        if (p == entry->nparts) node_of_part[entry->nparts++] = node[i];
        count[p]++;
    }
    uint32_t start = 0;
    for (int p = 0; p < entry->nparts; p++) {
        entry->parts[p] = (eng_ledger_part_t){
            .entry = entry, .node = node_of_part[p], .state = ENG_PART_IDLE, .start = start};
        start += count[p];
    }
    for (uint32_t i = 0; i < ncmds; i++) {
        if (entry->cmds[i].done) continue;
        int p = 0;
        while (node_of_part[p] != node[i])
            p++;
        eng_ledger_part_t *part = &entry->parts[p];
        entry->order[part->start + part->n++] = i;
    }
    entry->pending = entry->nparts;
}

void eng_ledger_add(eng_ledger_t *ledger, eng_batch_t *batch, const int16_t *owner,
                    int16_t fallback)
{
    assert(!eng_ledger_full(ledger));
    eng_ledger_entry_t *entry = entry_at(ledger, ledger->count++);
    entry->batch = batch;
    entry->seq = ledger->seq++;
    if (batch->ncmds > entry->cap) {
        entry->cap = batch->ncmds;
        entry->cmds = eng_realloc(entry->cmds, entry->cap * sizeof *entry->cmds);
        entry->order = eng_realloc(entry->order, entry->cap * sizeof *entry->order);
        entry->node = eng_realloc(entry->node, entry->cap * sizeof *entry->node);
    }
    for (uint32_t i = 0; i < batch->ncmds; i++) {
        const char *cmd;
        size_t len = eng_batch_get_cmd(batch, i, &cmd);
        int slot = eng_cluster_cmd_slot(cmd, len);
        /* a malformed or cross-slot command is the engine's bug: it is sent
         * with its neighbours and its error reply is logged and retried */
        entry->cmds[i] = (eng_ledger_cmd_t){.slot = slot >= 0 ? slot : ENG_SLOT_ANY, .ask = -1};
    }
    entry_split(entry, owner, fallback);
}

eng_ledger_part_t *eng_ledger_next(eng_ledger_t *ledger, int node)
{
    if (ledger->stalled || ledger->node_failed[node]) return NULL;
    for (size_t i = 0; i < ledger->count; i++) {
        eng_ledger_entry_t *entry = entry_at(ledger, i);
        for (int p = 0; p < entry->nparts; p++) {
            eng_ledger_part_t *part = &entry->parts[p];
            if (part->node != node || part->state != ENG_PART_IDLE) continue;
            part->state = ENG_PART_SENT;
            part->replies = part->errors = 0;
            ledger->node_sent[node]++;
            return part;
        }
    }
    return NULL;
}

size_t eng_ledger_part_cmd(const eng_ledger_part_t *part, uint32_t i, const char **data,
                           bool *asking)
{
    assert(i < part->n);
    uint32_t c = part->entry->order[part->start + i];
    *asking = part->entry->cmds[c].ask >= 0;
    return eng_batch_get_cmd(part->entry->batch, c, data);
}

void eng_ledger_reply(eng_ledger_t *ledger, eng_ledger_part_t *part, eng_ledger_result_t result,
                      int ask_node)
{
    assert(part->state == ENG_PART_SENT);
    uint32_t i = part->replies++;
    eng_ledger_cmd_t *cmd =
        i < part->n ? &part->entry->cmds[part->entry->order[part->start + i]] : NULL; /* the WAIT */
    if (cmd != NULL) cmd->ask = -1; /* ASK holds for one send */
    switch (result) {
    case ENG_LEDGER_OK:
        break;
    case ENG_LEDGER_ASK:
        if (cmd != NULL && ask_node >= 0 && ask_node < ENG_LEDGER_MAX_NODES) {
            cmd->ask = (int16_t)ask_node;
            ledger->needs |= ENG_LEDGER_NEED_REBUILD;
        }
        /* fallthrough */
    case ENG_LEDGER_MOVED:
        if (result == ENG_LEDGER_MOVED) ledger->needs |= ENG_LEDGER_NEED_MAP;
        /* fallthrough */
    case ENG_LEDGER_ERROR:
    case ENG_LEDGER_LOST:
        part->errors++;
        ledger->node_failed[part->node] = true;
        break;
    }
    if (part->replies < part->n + (ledger->wait ? 1u : 0u)) return;
    ledger->node_sent[part->node]--;
    /* an earlier part's error on this node voids this part's success: it is
     * resent after that part */
    if (part->errors == 0 && !ledger->node_failed[part->node]) {
        part->state = ENG_PART_DONE;
        for (uint32_t k = 0; k < part->n; k++)
            part->entry->cmds[part->entry->order[part->start + k]].done = 1;
        part->entry->pending--;
    } else {
        part->state = ENG_PART_FAILED;
    }
}

bool eng_ledger_node_idle(const eng_ledger_t *ledger, int node)
{
    return ledger->node_sent[node] == 0;
}

bool eng_ledger_node_failed(const eng_ledger_t *ledger, int node)
{
    return ledger->node_failed[node];
}

void eng_ledger_node_retry(eng_ledger_t *ledger, int node)
{
    assert(ledger->node_sent[node] == 0);
    for (size_t i = 0; i < ledger->count; i++) {
        eng_ledger_entry_t *entry = entry_at(ledger, i);
        for (int p = 0; p < entry->nparts; p++)
            if (entry->parts[p].node == node && entry->parts[p].state == ENG_PART_FAILED)
                entry->parts[p].state = ENG_PART_IDLE;
    }
    ledger->node_failed[node] = false;
}

bool eng_ledger_settled(const eng_ledger_t *ledger)
{
    for (int n = 0; n < ENG_LEDGER_MAX_NODES; n++)
        if (ledger->node_sent[n] != 0) return false;
    return true;
}

int eng_ledger_needs(const eng_ledger_t *ledger)
{
    return ledger->needs;
}

void eng_ledger_stall(eng_ledger_t *ledger)
{
    ledger->stalled = true;
}

void eng_ledger_rebuild(eng_ledger_t *ledger, const int16_t *owner, int16_t fallback)
{
    assert(eng_ledger_settled(ledger));
    for (size_t i = 0; i < ledger->count; i++)
        entry_split(entry_at(ledger, i), owner, fallback);
    memset(ledger->node_failed, 0, sizeof ledger->node_failed);
    ledger->needs = 0;
    ledger->stalled = false;
}

eng_batch_t *eng_ledger_pop(eng_ledger_t *ledger)
{
    if (ledger->count == 0) return NULL;
    eng_ledger_entry_t *entry = entry_at(ledger, 0);
    if (entry->pending != 0) return NULL;
    eng_batch_t *batch = entry->batch;
    entry->batch = NULL;
    entry->nparts = 0;
    ledger->head = (ledger->head + 1) % ENG_LEDGER_BATCHES;
    ledger->count--;
    return batch;
}

void eng_ledger_clear(eng_ledger_t *ledger)
{
    while (ledger->count > 0) {
        entry_at(ledger, 0)->batch = NULL;
        ledger->head = (ledger->head + 1) % ENG_LEDGER_BATCHES;
        ledger->count--;
    }
    memset(ledger->node_sent, 0, sizeof ledger->node_sent);
    memset(ledger->node_failed, 0, sizeof ledger->node_failed);
    ledger->needs = 0;
    ledger->stalled = false;
}
