// The OpenAI-compatible HTTP front end (cpp-httplib): routes, API-key check, JSON errors, SSE.
// A thin layer: requests are parsed by openai_request, rendered through the model's chat template,
// tokenized, and handed to the Scheduler; its events are shaped by chat_output / openai_response.
//
//   POST /v1/chat/completions   POST /v1/completions   GET /v1/models
//   GET /health   GET /metrics   POST /tokenize   POST /detokenize
#pragma once
#include <memory>
#include <string>

namespace fathom::tok { class Tokenizer; }

namespace fathom::server {

class Scheduler;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;          // 0: any free port (bind() returns it)
  std::string api_key;      // empty: no key needed
  std::string model_name;   // what /v1/models lists and responses echo when none is given
  // Connections (src/server/http_listener.h): beyond max_connections, clients wait to be accepted;
  // a request's headers must arrive within header_timeout of the connection (on a kept-alive one,
  // of the request's first byte), and its body within body_timeout of the headers.
  int max_connections = 512;
  double header_timeout = 10;  // seconds
  double body_timeout = 60;    // seconds
};

class HttpServer {
 public:
  HttpServer(Scheduler& scheduler, const tok::Tokenizer& tokenizer, ServerOptions options);
  ~HttpServer();

  int bind();     // binds host:port; returns the port. Throws fathom::Error when it cannot.
  void listen();  // serves until stop()
  void stop();    // safe from any thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fathom::server
