#pragma once
// The browser chat page: GET / answers index.html, GET /web/NAME the other embedded files
// (server/web_assets.h). They are static and hold no data of the server's, so they are served
// without the API key; the page asks for the key and sends it with its API calls.
#include <string_view>

#include <httplib.h>

namespace fathom::server {

void add_web_routes(httplib::Server& http);

// True for the routes above (exempt from --api-key).
bool is_web_route(std::string_view path);

}  // namespace fathom::server
