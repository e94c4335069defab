#include "server/web_page.h"

#include <string>

#include "server/web_assets.h"

namespace fathom::server {

namespace {

constexpr std::string_view kPrefix = "/web/";

std::string_view content_type(std::string_view name) {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// httplib routes are regular expressions: a file name's dots must match only dots.
std::string route_of(std::string_view name) {
  std::string r(kPrefix);
  for (char c : name) {
    if (c == '.') r += '\\';
    r += c;
  }
  return r;
}

void serve(httplib::Response& res, const WebAsset& a) {
  // Revalidated on every load, so a rebuilt binary's page is never mixed with a cached older one.
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  // The page loads nothing from elsewhere and talks only to this server; model output is rendered
  // without raw HTML, and this stops any script that slipped through anyway.
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
  res.set_content(std::string(a.body), std::string(content_type(a.name)));
}

}  // namespace

void add_web_routes(httplib::Server& http) {
  for (const WebAsset& a : web_assets()) {
    const WebAsset* asset = &a;
    auto handler = [asset](const httplib::Request&, httplib::Response& res) { serve(res, *asset); };
    http.Get(route_of(a.name), handler);
    if (a.name == "index.html") http.Get("/", handler);
  }
}

bool is_web_route(std::string_view path) {
  if (path == "/") return true;
  if (!path.starts_with(kPrefix)) return false;
  for (const WebAsset& a : web_assets())
    if (path.substr(kPrefix.size()) == a.name) return true;
  return false;
}

}  // namespace fathom::server
