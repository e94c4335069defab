// Prometheus text exposition (format 0.0.4) of the server's counters: HTTP requests by endpoint and
// status, tokens in and out, decode speed, queue depth, active sequences, KV-cache use and connections.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/scheduler.h"

namespace fathom::server {

struct ConnectionStats;  // server/http_listener.h

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  std::string render(const SchedulerStats& s, const ConnectionStats& c) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
};

}  // namespace fathom::server
