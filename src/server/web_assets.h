#pragma once
// The chat page's files (src/server/web/), compiled into the binary by cmake/embed_files.cmake, so
// `fathom serve` needs nothing installed beside it and nothing from the network.
#include <span>
#include <string_view>

namespace fathom::server {

struct WebAsset {
  std::string_view name;  // file name in src/server/web/, e.g. "app.js"
  std::string_view body;  // its bytes
};

// Every file of the page, sorted by name.
std::span<const WebAsset> web_assets();

}  // namespace fathom::server
