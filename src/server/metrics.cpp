#include "server/metrics.h"

#include <fmt/format.h>

#include "server/http_listener.h"

namespace fathom::server {

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lk(mu_);
  ++requests_[{endpoint, status}];
}

std::string Metrics::render(const SchedulerStats& s, const ConnectionStats& c) const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  out += "# HELP fathom_requests_total HTTP requests by endpoint and status.\n# TYPE fathom_requests_total counter\n";
  {
    std::lock_guard lk(mu_);
    for (auto& [key, n] : requests_)
      out += fmt::format("fathom_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  }
  metric("fathom_prompt_tokens_total", "counter", "Prompt tokens received.", double(s.prompt_tokens));
  metric("fathom_prompt_tokens_cached_total", "counter", "Prompt tokens found in a slot's cache (not recomputed).",
         double(s.cached_prompt_tokens));
  metric("fathom_completion_tokens_total", "counter", "Tokens generated.", double(s.completion_tokens));
  metric("fathom_generations_finished_total", "counter", "Generations that ran to their end.", double(s.requests_finished));
  metric("fathom_generations_cancelled_total", "counter", "Generations cancelled (client gone) or failed.",
         double(s.requests_cancelled));
  metric("fathom_decode_steps_total", "counter", "Batched decode steps.", double(s.decode_steps));
  metric("fathom_decode_batch_tokens_total", "counter", "Sequences advanced, summed over decode steps.",
         double(s.decode_batch_tokens));
  metric("fathom_mtp_drafted_tokens_total", "counter", "Tokens drafted by the MTP module and verified (--mtp).",
         double(s.drafted_tokens));
  metric("fathom_mtp_accepted_tokens_total", "counter", "Drafted tokens the main model accepted (--mtp).",
         double(s.accepted_drafts));
  metric("fathom_prefill_seconds_total", "counter", "Time spent prefilling prompts.", s.prefill_seconds);
  metric("fathom_decode_seconds_total", "counter", "Time spent in batched decode steps.", s.decode_seconds);
  metric("fathom_decode_tokens_per_second", "gauge", "Tokens generated per second over the last 5 s.",
         s.decode_tokens_per_second);
  metric("fathom_queue_depth", "gauge", "Requests waiting for a slot.", double(s.queued));
  metric("fathom_active_sequences", "gauge", "Sequences holding a slot.", double(s.active));
  metric("fathom_kv_cache_tokens_used", "gauge", "KV-cache tokens held by active sequences.", double(s.kv_tokens_used));
  metric("fathom_kv_cache_tokens_capacity", "gauge", "KV-cache budget in tokens (slots x context).",
         double(s.kv_tokens_capacity));
  metric("fathom_kv_cache_bytes_capacity", "gauge", "KV-cache budget in bytes (allocated at start).",
         double(s.kv_bytes_capacity));
  metric("fathom_kv_cache_usage_ratio", "gauge", "kv_cache_tokens_used / kv_cache_tokens_capacity.",
         s.kv_tokens_capacity ? double(s.kv_tokens_used) / double(s.kv_tokens_capacity) : 0.0);
  metric("fathom_http_connections", "gauge", "HTTP connections open now.", double(c.open));
  metric("fathom_http_connections_total", "counter", "HTTP connections accepted.", double(c.accepted));
  metric("fathom_http_connections_timed_out_total", "counter",
         "HTTP connections closed because a request's headers or body came too slowly.", double(c.timed_out));
  return out;
}

}  // namespace fathom::server
