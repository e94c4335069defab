// The chat page's embedding and routes (src/server/web_page.cpp): every file of src/server/web/ is in
// the binary byte for byte, every file the page refers to is served, and the routes answer with the
// right types. The page's behaviour in a browser is tests/browser/chat_page.mjs.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "server/web_assets.h"
#include "server/web_page.h"
#include "test_paths.h"

namespace fathom::server {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string asset(std::string_view name) {
  for (const WebAsset& a : web_assets())
    if (a.name == name) return std::string(a.body);
  ADD_FAILURE() << name << " is not embedded";
  return {};
}

TEST(WebPage, EmbedsEveryFileOfTheFolderByteForByte) {
  const auto dir = std::filesystem::path(FATHOM_SOURCE_DIR) / "src" / "server" / "web";
  std::set<std::string> on_disk, embedded;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string ext = e.path().extension();
    if (ext == ".html" || ext == ".css" || ext == ".js" || ext == ".svg") on_disk.insert(e.path().filename());
  }
  for (const WebAsset& a : web_assets()) {
    embedded.insert(std::string(a.name));
    const std::string disk = read_file(dir / a.name);
    EXPECT_TRUE(a.body == disk) << a.name << ": " << a.body.size() << " bytes embedded, " << disk.size() << " on disk";
  }
  EXPECT_EQ(embedded, on_disk);
  EXPECT_TRUE(embedded.count("index.html"));
}

TEST(WebPage, EveryFileThePageLoadsIsEmbedded) {
  // <script src>, <link href> in the page and `import ... from './x.js'` in its modules.
  std::set<std::string> wanted;
  const std::regex html_ref(R"re((?:src|href)="/web/([^"]+)")re"), js_import(R"re(from '\./([^']+)')re");
  const std::string html = asset("index.html");
  for (std::sregex_iterator it(html.begin(), html.end(), html_ref), end; it != end; ++it) wanted.insert((*it)[1]);
  for (const WebAsset& a : web_assets()) {
    if (!a.name.ends_with(".js")) continue;
    const std::string js(a.body);
    for (std::sregex_iterator it(js.begin(), js.end(), js_import), end; it != end; ++it) wanted.insert((*it)[1]);
  }
  EXPECT_TRUE(wanted.count("app.js") && wanted.count("vendor.js") && wanted.count("store.js"));
  for (const std::string& name : wanted) EXPECT_TRUE(is_web_route("/web/" + name)) << name;
}

TEST(WebPage, RoutesServeThePageWithItsTypes) {
  httplib::Server http;
  add_web_routes(http);
  const int port = http.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  // Bound sockets already listen: a connection waits in the backlog until the loop accepts it.
  std::thread t([&] { http.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  auto index = client.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_TRUE(index->body == asset("index.html"));
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  auto js = client.Get("/web/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_TRUE(js->body == asset("app.js"));
  auto css = client.Get("/web/vendor.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");
  // A name's dot matches only a dot, and nothing outside the folder is reachable.
  for (const char* bad : {"/web/appxjs", "/web/../CMakeLists.txt", "/web/", "/index.html"}) {
    auto r = client.Get(bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 404) << bad;
  }
  http.stop();
  t.join();
}

TEST(WebPage, OnlyThePageIsExemptFromTheApiKey) {
  EXPECT_TRUE(is_web_route("/"));
  EXPECT_TRUE(is_web_route("/web/app.js"));
  EXPECT_FALSE(is_web_route("/web/nothing.js"));
  EXPECT_FALSE(is_web_route("/v1/models"));
  EXPECT_FALSE(is_web_route("/web"));
  EXPECT_FALSE(is_web_route("//"));
}

}  // namespace
}  // namespace fathom::server
