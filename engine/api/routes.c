/* routes.c - the route table: every API and operations route and its
 * handler; see internal.h. */
#include "engine/api/internal.h"

#include <http_parser.h>

/* Every route. A literal segment beats a parameter in the same place
 * (/things/alerts is not /things/{tuid}); the most literal pattern wins. */
static const eng_api_route_t routes[] = {
    {{HTTP_POST, "/auth/client-token", ENG_ROUTE_OPEN}, eng_api_auth_token},
    {{HTTP_GET, "/things/alerts", 0}, eng_api_alerts_list},
    {{HTTP_GET, "/things/alerts/count", 0}, eng_api_alerts_count},
    {{HTTP_GET, "/things/{tuid}", 0}, eng_api_things_get},
    {{HTTP_GET, "/things/{tuid}/alerts", 0}, eng_api_alerts_thing},
    {{HTTP_GET, "/things/{tuid}/messages", 0}, eng_api_messages_list},
    {{HTTP_GET, "/things/{tuid}/commands", 0}, eng_api_commands_list},
    {{HTTP_POST, "/things/{tuid}/commands", 0}, eng_api_commands_send},
    {{HTTP_GET, "/things/{tuid}/installations", 0}, eng_api_installations_list},
    {{HTTP_POST, "/things/{tuid}/installations", 0}, eng_api_installations_set},
    {{HTTP_GET, "/things/{tuid}/group", 0}, eng_api_groups_thing_get},
    {{HTTP_POST, "/things/{tuid}/group", 0}, eng_api_groups_thing_set},
    {{HTTP_GET, "/groups", 0}, eng_api_groups_list},
    {{HTTP_POST, "/groups", 0}, eng_api_groups_create},
    {{HTTP_POST, "/groups/{groupid}/rename", 0}, eng_api_groups_rename},
    {{HTTP_GET, "/groups/{groupid}/things", 0}, eng_api_groups_things},
    {{HTTP_DELETE, "/groups/{groupid}", 0}, eng_api_groups_delete},
    {{HTTP_GET, "/healthz", ENG_ROUTE_OPEN | ENG_ROUTE_ROOT}, eng_api_ops_healthz},
    {{HTTP_GET, "/readyz", ENG_ROUTE_OPEN | ENG_ROUTE_ROOT}, eng_api_ops_readyz},
    {{HTTP_GET, "/metrics", ENG_ROUTE_OPEN | ENG_ROUTE_ROOT}, eng_api_ops_metrics},
    {{HTTP_GET, "/status", ENG_ROUTE_ROOT}, eng_api_ops_status},
};

const eng_api_route_t *eng_api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

void eng_api_route_match(const char *base, int method, const char *path, size_t path_len,
                         eng_route_match_t *m)
{
    eng_router_match(&routes[0].route, sizeof routes / sizeof routes[0], sizeof routes[0], base,
                     method, path, path_len, m);
}
