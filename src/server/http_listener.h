// cpp-httplib's Server with connections served our way, so that clients who hold a connection
// without using it cannot starve the ones who do:
//   - a deadline for each request's headers (from the connection, or from the first byte of a later
//     request on a kept-alive one, which must come within idle_timeout) and another for its body. httplib bounds each single read, so a client that trickles a header
//     line a second would otherwise hold its thread for ever;
//   - a cap on open connections: beyond it, connections wait unaccepted in the kernel's listen queue,
//     which is made deep (httplib's is 5, so bursts got TCP resets) instead of on a thread each;
//   - a thread per open connection, started when needed, so an admitted connection never waits
//     behind slow ones;
//   - client_gone(), which a handler polls to learn that its client closed the connection.
// Requests are still parsed, routed and answered by httplib (Server::process_request).
#pragma once
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace fathom::server {

struct ConnectionLimits {
  int max_connections = 512;                        // open at once; more wait to be accepted
  std::chrono::milliseconds header_timeout{10000};  // to send the request line and headers
  std::chrono::milliseconds body_timeout{60000};    // to send the body once the headers are in
  std::chrono::milliseconds idle_timeout{5000};     // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{10000};   // for a client to take each piece of a response
  int requests_per_connection = 1000;
};

struct ConnectionStats {
  int64_t open = 0;       // connections being served now
  int64_t accepted = 0;   // since start
  int64_t timed_out = 0;  // closed because the headers or the body came too slowly
};

class Listener : public httplib::Server {
 public:
  explicit Listener(ConnectionLimits limits);

  // After bind_to_port: the listen queue becomes `backlog` deep (the kernel caps it at somaxconn).
  void set_backlog(int backlog);
  // Stops accepting and ends idle connections; listen_after_bind() returns once every connection is closed.
  void shutdown();
  bool stopping() const;
  ConnectionStats connection_stats() const;

  // For handlers, on the thread that serves the request (each connection stays on one thread):
  static void body_next();     // the headers are in: the body's deadline starts (pre-routing)
  static void handling();      // the request is in: no deadline while it is answered
  static bool client_gone();   // the client closed or reset the connection

 private:
  class Stream;
  class Threads;
  bool process_and_close_socket(socket_t sock) override;
  void admit();  // on the accepting thread: waits while max_connections are open
  void release();

  static thread_local Stream* current_;  // the connection this thread serves

  const ConnectionLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable room_;
  int64_t admitted_ = 0;
  bool shutting_down_ = false;
  ConnectionStats stats_;
};

}  // namespace fathom::server
