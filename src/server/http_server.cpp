#include "server/http_server.h"

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>

#include "chat/chat_template.h"
#include "core/error.h"
#include "generation/reasoning.h"
#include "server/chat_output.h"
#include "server/http_listener.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/scheduler.h"
#include "server/web_page.h"
#include "tokenizer/tokenizer.h"

namespace fathom::server {

namespace {

// Events of one request, from the engine thread to the HTTP thread that answers it.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<EngineEvent> events;

  void push(EngineEvent&& e) {
    {
      std::lock_guard lk(mu);
      events.push_back(std::move(e));
    }
    cv.notify_one();
  }
  // Waits up to `timeout` for events; returns what arrived (possibly nothing).
  std::deque<EngineEvent> take(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, timeout, [&] { return !events.empty(); });
    std::deque<EngineEvent> out;
    out.swap(events);
    return out;
  }
};

void send_json(httplib::Response& res, int status, const ojson& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, error_body(e)); }

// Stream state shared by the calls of one content provider.
struct StreamState {
  std::shared_ptr<Channel> channel;
  std::shared_ptr<Ticket> ticket;
  ResponseHead head;
  bool include_usage = false;
  bool started = false;
};

}  // namespace

struct HttpServer::Impl {
  Scheduler& sched;
  const tok::Tokenizer& tok;
  ServerOptions opt;
  Metrics metrics;
  Listener http;
  int bound_port = -1;
  // The model's chat template, parsed once here. Unset when the model has none or it does not
  // parse (chat_template_error says why; /v1/completions still works).
  std::optional<chat::ChatTemplate> chat_template;
  std::string chat_template_error;

  Impl(Scheduler& s, const tok::Tokenizer& t, ServerOptions o)
      : sched(s), tok(t), opt(std::move(o)), http(connection_limits(opt)) {
    if (tok.chat_template().empty()) return;
    try {
      chat_template.emplace(tok.chat_template());
    } catch (const Error& e) {
      chat_template_error = e.what();
    }
  }

  static ConnectionLimits connection_limits(const ServerOptions& o) {
    auto ms = [](double seconds) { return std::chrono::milliseconds(int64_t(seconds * 1000)); };
    ConnectionLimits l;
    l.max_connections = o.max_connections;
    l.header_timeout = ms(o.header_timeout);
    l.body_timeout = ms(o.body_timeout);
    return l;
  }
  // A non-streaming request is given up, and its slot or queue place freed at once, when nobody
  // will read its answer: the client left, or the server stops.
  void give_up_if_unwanted(Ticket& ticket) const {
    if (Listener::client_gone()) {
      ticket.cancel();
      throw ApiError(499, "the client closed the connection", "invalid_request_error");
    }
    if (http.stopping()) {
      ticket.cancel();
      throw ApiError(503, "the server is shutting down", "server_error");
    }
  }

  void routes();
  // Common to chat and completions: checks, submits, and returns the ticket and channel.
  std::shared_ptr<Ticket> submit(const GenerationParams& p, std::vector<int32_t> ids,
                                 const std::shared_ptr<Channel>& ch, bool skip_special);
  void chat(const httplib::Request& req, httplib::Response& res);
  void completions(const httplib::Request& req, httplib::Response& res);
  void tokenize(const httplib::Request& req, httplib::Response& res);
  void detokenize(const httplib::Request& req, httplib::Response& res);
  ojson health() const;
};

std::shared_ptr<Ticket> HttpServer::Impl::submit(const GenerationParams& p, std::vector<int32_t> ids,
                                                 const std::shared_ptr<Channel>& ch, bool skip_special) {
  const int64_t context = sched.options().context;
  if (ids.empty()) invalid("the prompt is empty", "prompt");
  if (int64_t(ids.size()) > context)
    throw ApiError(400,
                   fmt::format("This model's maximum context length is {} tokens. However, your prompt is {} tokens.",
                               context, ids.size()),
                   "invalid_request_error", "messages", "context_length_exceeded");
  EngineRequest er;
  er.prompt = std::move(ids);
  er.max_tokens = p.max_tokens;
  er.sampling = p.sampling;
  er.sampling.seed = sequence_seed(p.seed_given ? std::optional<uint64_t>(p.sampling.seed) : std::nullopt);
  er.stop = p.stop;
  er.stop_tokens = p.stop_token_ids;
  er.ignore_eos = p.ignore_eos;
  er.speculate = p.mtp;
  er.logit_bias = p.logit_bias;
  er.top_logprobs = p.logprobs ? p.top_logprobs : -1;
  er.skip_special = skip_special;
  er.json_schema = p.json_schema;
  std::shared_ptr<Ticket> ticket;
  try {
    ticket = sched.submit(std::move(er), [ch](EngineEvent&& e) { ch->push(std::move(e)); });
  } catch (const Error& e) {
    invalid(e.what());
  }
  if (!ticket)
    throw ApiError(429, "the server is busy: the request queue is full, retry later", "rate_limit_error", "",
                   "queue_full");
  return ticket;
}

void HttpServer::Impl::chat(const httplib::Request& req, httplib::Response& res) {
  ChatRequest r = parse_chat_request(req.body, tool_call_format(tok.chat_template()));
  if (tok.chat_template().empty())
    throw ApiError(400, "the model has no chat template; use /v1/completions", "invalid_request_error");
  chat::ChatOptions co;
  co.add_generation_prompt = true;
  co.tools = r.tools;
  co.extra = r.template_kwargs;
  co.bos_token = tok.bos_token();
  co.eos_token = tok.eos_token();
  std::string text;
  try {
    if (!chat_template) fail("{}", chat_template_error);
    text = chat_template->render(r.messages, co);
  } catch (const Error& e) {
    invalid(std::string("the chat template rejected the messages: ") + e.what(), "messages");
  }
  // Structured output is decoded under its schema from the first token: it is the answer, never
  // reasoning, even where the template's generation prompt opens a <think> block.
  const bool in_reasoning = !r.json_schema && prompt_opens_reasoning(text);
  const bool parse_tools = !r.tools.is_null();
  auto ch = std::make_shared<Channel>();
  auto ticket = submit(r, tok.encode(text, false), ch, true);
  const ResponseHead head{random_id("chatcmpl-"), int64_t(std::time(nullptr)), r.model.empty() ? opt.model_name : r.model};
  const bool want_logprobs = r.logprobs;

  if (!r.stream) {
    ChatOutputParser parser(in_reasoning, parse_tools);
    ChatMessageOut msg;
    std::vector<TokenLogprob> lps;
    for (;;) {
      auto events = ch->take(std::chrono::milliseconds(100));
      give_up_if_unwanted(*ticket);
      for (auto& e : events) {
        apply_deltas(msg, parser.push(e.text));
        lps.insert(lps.end(), e.logprobs.begin(), e.logprobs.end());
        if (!e.done) continue;
        if (!e.error.empty()) throw ApiError(500, "generation failed: " + e.error, "server_error");
        apply_deltas(msg, parser.flush());
        std::vector<std::string> ids;
        for (size_t i = 0; i < msg.tool_calls.size(); ++i) ids.push_back(random_id("call_"));
        const Usage u{e.prompt_tokens, e.completion_tokens, e.cached_tokens};
        send_json(res, 200,
                  chat_completion(head, msg, ids, finish_reason(e.finish, !msg.tool_calls.empty()), u,
                                  want_logprobs ? chat_logprobs(tok, lps) : ojson(nullptr)));
        return;
      }
    }
  }

  // Streaming: the first chunk carries the role, then one chunk per delta, then the finish reason,
  // the usage chunk when asked for, and [DONE]. A failed write means the client left: cancel.
  struct ChatStream : StreamState {
    ChatOutputParser parser;
    std::vector<std::string> call_ids;
    ChatStream(bool in_reasoning, bool tools) : parser(in_reasoning, tools) {}
  };
  auto st = std::make_shared<ChatStream>(in_reasoning, parse_tools);
  st->channel = ch;
  st->ticket = ticket;
  st->head = head;
  st->include_usage = r.include_usage;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, st, want_logprobs](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!st->started) {
          st->started = true;
          out += sse(chat_chunk(st->head, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr, st->include_usage));
        }
        bool finished = false;
        for (auto& e : st->channel->take(std::chrono::milliseconds(200))) {
          auto deltas = st->parser.push(e.text);
          if (e.done && e.error.empty()) {
            auto rest = st->parser.flush();
            deltas.insert(deltas.end(), rest.begin(), rest.end());
          }
          ojson lp = want_logprobs && !e.logprobs.empty() ? chat_logprobs(tok, e.logprobs) : ojson(nullptr);
          for (auto& d : deltas) {
            if (d.kind == ChatDelta::Kind::ToolBegin)
              while (int(st->call_ids.size()) <= d.index) st->call_ids.push_back(random_id("call_"));
            out += sse(chat_chunk(st->head, chat_delta(d, st->call_ids), lp, nullptr, st->include_usage));
            lp = nullptr;
          }
          if (!lp.is_null())  // logprobs of tokens whose text is still held back
            out += sse(chat_chunk(st->head, ojson::object(), lp, nullptr, st->include_usage));
          if (!e.done) continue;
          finished = true;
          if (!e.error.empty()) {
            out += sse(error_body(ApiError(500, "generation failed: " + e.error, "server_error")));
          } else {
            out += sse(chat_chunk(st->head, ojson::object(), nullptr,
                                  finish_reason(e.finish, !st->call_ids.empty()), st->include_usage));
            if (st->include_usage)
              out += sse(chat_usage_chunk(st->head, {e.prompt_tokens, e.completion_tokens, e.cached_tokens}));
          }
          out += "data: [DONE]\n\n";
        }
        // A client that left is noticed by the failed write, or, while there is nothing to write
        // (queued, or a long prompt), by asking the connection.
        if ((!out.empty() && !sink.write(out.data(), out.size())) || (out.empty() && Listener::client_gone())) {
          st->ticket->cancel();
          return false;
        }
        if (finished) sink.done();
        return true;
      },
      [st](bool success) {
        if (!success) st->ticket->cancel();
      });
}

void HttpServer::Impl::completions(const httplib::Request& req, httplib::Response& res) {
  CompletionRequest r = parse_completion_request(req.body);
  std::vector<int32_t> ids = r.prompt_tokens;
  if (ids.empty()) {
    ids = tok.encode(r.prompt, true);
  } else {
    for (int32_t id : ids)
      if (!tok.is_valid_id(id)) invalid(fmt::format("prompt token id {} is not in the vocabulary", id), "prompt");
  }
  auto ch = std::make_shared<Channel>();
  auto ticket = submit(r, std::move(ids), ch, true);
  const ResponseHead head{random_id("cmpl-"), int64_t(std::time(nullptr)), r.model.empty() ? opt.model_name : r.model};
  const bool want_logprobs = r.logprobs;

  if (!r.stream) {
    std::string text;
    std::vector<TokenLogprob> lps;
    for (;;) {
      auto events = ch->take(std::chrono::milliseconds(100));
      give_up_if_unwanted(*ticket);
      for (auto& e : events) {
        text += e.text;
        lps.insert(lps.end(), e.logprobs.begin(), e.logprobs.end());
        if (!e.done) continue;
        if (!e.error.empty()) throw ApiError(500, "generation failed: " + e.error, "server_error");
        const Usage u{e.prompt_tokens, e.completion_tokens, e.cached_tokens};
        send_json(res, 200,
                  text_completion(head, text, finish_reason(e.finish, false), u,
                                  want_logprobs ? completion_logprobs(tok, lps, 0) : ojson(nullptr)));
        return;
      }
    }
  }

  struct CompletionStream : StreamState {
    size_t offset = 0;
  };
  auto st = std::make_shared<CompletionStream>();
  st->channel = ch;
  st->ticket = ticket;
  st->head = head;
  st->include_usage = r.include_usage;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, st, want_logprobs](size_t, httplib::DataSink& sink) {
        std::string out;
        bool finished = false;
        for (auto& e : st->channel->take(std::chrono::milliseconds(200))) {
          ojson lp = want_logprobs && !e.logprobs.empty() ? completion_logprobs(tok, e.logprobs, st->offset) : ojson(nullptr);
          st->offset += e.text.size();
          if (!e.text.empty() || !lp.is_null())
            out += sse(completion_chunk(st->head, e.text, lp, nullptr, st->include_usage));
          if (!e.done) continue;
          finished = true;
          if (!e.error.empty()) {
            out += sse(error_body(ApiError(500, "generation failed: " + e.error, "server_error")));
          } else {
            out += sse(completion_chunk(st->head, "", nullptr, finish_reason(e.finish, false), st->include_usage));
            if (st->include_usage)
              out += sse(completion_usage_chunk(st->head, {e.prompt_tokens, e.completion_tokens, e.cached_tokens}));
          }
          out += "data: [DONE]\n\n";
        }
        // A client that left is noticed by the failed write, or, while there is nothing to write
        // (queued, or a long prompt), by asking the connection.
        if ((!out.empty() && !sink.write(out.data(), out.size())) || (out.empty() && Listener::client_gone())) {
          st->ticket->cancel();
          return false;
        }
        if (finished) sink.done();
        return true;
      },
      [st](bool success) {
        if (!success) st->ticket->cancel();
      });
}

void HttpServer::Impl::tokenize(const httplib::Request& req, httplib::Response& res) {
  const ojson j = parse_object(req.body);
  const char* key = j.contains("content") ? "content" : "prompt";
  if (!j.contains(key) || !j[key].is_string()) invalid("'content' must be a string", "content");
  bool add_special = false;
  if (j.contains("add_special")) {
    if (!j["add_special"].is_boolean()) invalid("'add_special' must be a boolean", "add_special");
    add_special = j["add_special"].get<bool>();
  }
  bool with_pieces = false;
  if (j.contains("with_pieces")) {
    if (!j["with_pieces"].is_boolean()) invalid("'with_pieces' must be a boolean", "with_pieces");
    with_pieces = j["with_pieces"].get<bool>();
  }
  const auto ids = tok.encode(j[key].get<std::string>(), add_special);
  ojson tokens = ojson::array();
  for (int32_t id : ids)
    tokens.push_back(with_pieces ? ojson{{"id", id}, {"piece", tok.token_bytes(id)}} : ojson(id));
  send_json(res, 200, {{"tokens", tokens}});
}

void HttpServer::Impl::detokenize(const httplib::Request& req, httplib::Response& res) {
  const ojson j = parse_object(req.body);
  if (!j.contains("tokens") || !j["tokens"].is_array()) invalid("'tokens' must be an array of token ids", "tokens");
  std::vector<int32_t> ids;
  for (auto& x : j["tokens"]) {
    if (!x.is_number_integer() || !tok.is_valid_id(int32_t(x.get<int64_t>())) || x.get<int64_t>() > INT32_MAX)
      invalid(fmt::format("'tokens' holds {}, not a token id of this model", x.dump()), "tokens");
    ids.push_back(int32_t(x.get<int64_t>()));
  }
  send_json(res, 200, {{"content", tok.decode(ids)}});
}

ojson HttpServer::Impl::health() const {
  const SchedulerStats s = sched.stats();
  return {{"status", "ok"},
          {"model", opt.model_name},
          {"slots", sched.options().parallel},
          {"context", sched.options().context},
          {"mtp", sched.options().mtp_draft > 0},
          {"active", s.active},
          {"queued", s.queued},
          {"kv_cache", {{"tokens_used", s.kv_tokens_used},
                        {"tokens_capacity", s.kv_tokens_capacity},
                        {"bytes_capacity", s.kv_bytes_capacity}}}};
}

void HttpServer::Impl::routes() {
  // Every handler answers errors as OpenAI does: JSON with the status the problem deserves.
  auto guarded = [this](void (Impl::*fn)(const httplib::Request&, httplib::Response&)) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      Listener::handling();  // the request is in: answering it may take as long as generation does
      try {
        (this->*fn)(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Error& e) {
        send_error(res, ApiError(400, e.what()));
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "server_error"));
      }
    };
  };
  http.Post("/v1/chat/completions", guarded(&Impl::chat));
  http.Post("/v1/completions", guarded(&Impl::completions));
  http.Post("/tokenize", guarded(&Impl::tokenize));
  http.Post("/detokenize", guarded(&Impl::detokenize));
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200,
              {{"object", "list"},
               {"data", ojson::array({{{"id", opt.model_name}, {"object", "model"}, {"created", 0},
                                       {"owned_by", "fathom"}, {"max_model_len", sched.options().context}}})}});
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) { send_json(res, 200, health()); });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(sched.stats(), http.connection_stats()), "text/plain; version=0.0.4");
  });
  add_web_routes(http);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    Listener::body_next();  // the headers are in
    if (opt.api_key.empty() || req.path == "/health" || is_web_route(req.path)) return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + opt.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401, "Incorrect API key provided.", "invalid_request_error", "", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already wrote its JSON error
    const std::string msg = res.status == 404 ? fmt::format("no route for {} {}", req.method, req.path)
                                              : fmt::format("HTTP error {}", res.status);
    send_error(res, ApiError(res.status, msg, "invalid_request_error", "", res.status == 404 ? "not_found" : ""));
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, "internal error: " + what, "server_error"));
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    static const char* known[] = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health",
                                  "/metrics", "/tokenize", "/detokenize", "/"};
    std::string endpoint = "other";
    for (const char* k : known)
      if (req.path == k) endpoint = k;
    metrics.count_request(endpoint, res.status);
  });
  http.set_payload_max_length(size_t(64) << 20);
}

HttpServer::HttpServer(Scheduler& scheduler, const tok::Tokenizer& tokenizer, ServerOptions options)
    : impl_(std::make_unique<Impl>(scheduler, tokenizer, std::move(options))) {
  impl_->routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  Impl& m = *impl_;
  if (m.opt.port == 0) {
    m.bound_port = m.http.bind_to_any_port(m.opt.host);
    if (m.bound_port <= 0) fail("cannot listen on {} (any port)", m.opt.host);
  } else {
    if (!m.http.bind_to_port(m.opt.host, m.opt.port))
      fail("cannot listen on {}:{} (in use, or not an address of this machine)", m.opt.host, m.opt.port);
    m.bound_port = m.opt.port;
  }
  // httplib listens with a backlog of 5: a burst of connections beyond it got TCP resets. The
  // kernel caps this at net.core.somaxconn.
  m.http.set_backlog(4096);
  return m.bound_port;
}

void HttpServer::listen() { impl_->http.listen_after_bind(); }

void HttpServer::stop() { impl_->http.shutdown(); }

}  // namespace fathom::server
