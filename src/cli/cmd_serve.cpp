// fathom serve: the OpenAI-compatible HTTP server (src/server/, docs/SERVER.md). Loads the model,
// allocates the KV budget (parallel slots x context), and serves until SIGINT / SIGTERM.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "cli/load_model.h"
#include "core/error.h"
#include "server/http_server.h"
#include "server/scheduler.h"

namespace {

using namespace fathom;

struct Opts {
  cli::ModelFlags model;
  cli::MtpFlags mtp;
  std::string host = "127.0.0.1", api_key, alias;
  int port = 8080, parallel = 4, queue = 64, threads = 0;
  int max_connections = 512;
  double header_timeout = 10, body_timeout = 60;
};

int serve(const Opts& o) {
  // Signals are taken by one thread with sigwait, so every other thread (httplib's, the engine's,
  // the compute pool's) must have them blocked: block before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that goes away must not end the server

  if (o.parallel < 1) fail("--parallel must be at least 1 (got {})", o.parallel);
  if (o.queue < 0) fail("--queue must be at least 0 (got {})", o.queue);
  if (o.max_connections < 1) fail("--max-connections must be at least 1 (got {})", o.max_connections);
  if (!(o.header_timeout > 0) || !(o.body_timeout > 0) || o.header_timeout > 1e6 || o.body_timeout > 1e6)
    fail("--header-timeout and --body-timeout must be positive numbers of seconds");
  cli::LoadedModel m = cli::load_model(o.model);
  Runtime runtime(o.threads);

  server::SchedulerOptions so;
  so.context = m.context;
  so.parallel = o.parallel;
  so.max_queue = o.queue;
  so.cache_type = m.cache_type;
  so.mtp_draft = cli::mtp_drafts(o.mtp, m.model->config(), /*warn_only=*/true);
  server::Scheduler scheduler(*m.model, *m.tokenizer, runtime.exec(), so);

  server::ServerOptions ho;
  ho.host = o.host;
  ho.port = o.port;
  ho.api_key = o.api_key;
  ho.max_connections = o.max_connections;
  ho.header_timeout = o.header_timeout;
  ho.body_timeout = o.body_timeout;
  ho.model_name = !o.alias.empty() ? o.alias
                  : std::filesystem::path(o.model.model).filename().string();
  if (ho.model_name.empty()) ho.model_name = std::filesystem::path(o.model.model).parent_path().filename().string();
  server::HttpServer http(scheduler, *m.tokenizer, ho);
  const int port = http.bind();

  const auto st = scheduler.stats();
  std::fprintf(stderr,
               "fathom serve: model %s, %d slots x %lld tokens, KV cache %.1f MB (%s), %d threads%s\n"
               "listening on http://%s:%d\n",
               ho.model_name.c_str(), o.parallel, (long long)m.context, double(st.kv_bytes_capacity) / 1e6,
               cache_type_name(m.cache_type), runtime.threads(),
               so.mtp_draft > 0 ? fmt::format(", MTP {} draft(s) per step", so.mtp_draft).c_str() : "",
               o.host.c_str(), port);
  std::fflush(stderr);

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "fathom serve: signal %d, shutting down\n", sig);
    http.stop();
  });
  http.listen();
  // listen() also returns when the socket fails; wake the waiter so it can be joined.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}

cli::Command reg("serve", "OpenAI-compatible HTTP server (chat, completions, streaming, tool calls)",
                 [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  sub.add_option("model", o->model.model, "model directory")->required();
  sub.add_option("--host", o->host, "address to listen on (loopback by default)");
  cli::add_port_option(sub, o->port, "port (0: any free port, printed at start)");
  sub.add_option("--parallel", o->parallel, "sequences generated at once (continuous batching slots)");
  sub.add_option("--ctx", o->model.ctx, "context per sequence in tokens (default min(4096, model max))");
  cli::add_cache_type_flag(sub, o->model.cache_type);
  cli::add_mtp_flags(sub, o->mtp);
  sub.add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY'");
  cli::add_threads_option(sub, o->threads, "-t,--threads", "compute threads (default: all cores)");
  sub.add_option("--queue", o->queue, "requests that may wait for a slot; more get 429");
  sub.add_option("--alias", o->alias, "model name shown by /v1/models (default: the directory name)");
  sub.add_option("--max-connections", o->max_connections,
                 "HTTP connections served at once; more wait to be accepted")->capture_default_str();
  sub.add_option("--header-timeout", o->header_timeout,
                 "seconds a client has to send a request's headers (from connecting; on a kept-alive "
                 "connection, from the request's first byte)")->capture_default_str();
  sub.add_option("--body-timeout", o->body_timeout, "seconds a client has to send a request's body, once its headers are in")
      ->capture_default_str();
  return std::function<int()>([o] { return serve(*o); });
});

}  // namespace
