#include "server/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <system_error>
#include <thread>
#include <vector>

namespace fathom::server {

namespace {

using Clock = std::chrono::steady_clock;

// Waits up to `until` for `events` on fd; false on timeout. A signal only shortens one wait.
bool wait_for(int fd, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, int(std::min<int64_t>(left, 1 << 30)));
    if (r > 0) return true;  // ready, or an error / hang-up that the next recv or send reports
    if (r < 0 && errno != EINTR) return false;
  }
}

std::string address_text(const sockaddr_storage& a, int& port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    port = ntohs(v6->sin6_port);
  }
  return buf;
}

}  // namespace

// One connection's socket as httplib reads and writes it, buffered, with the phase deadline
// enforced on every read: a read that would pass it fails, and httplib gives up on the request.
class Listener::Stream final : public httplib::Stream {
 public:
  Stream(int fd, const ConnectionLimits& limits) : fd_(fd), limits_(limits) {}

  void set_deadline(Clock::time_point t) { deadline_ = t; }
  void start_body() { deadline_ = Clock::now() + limits_.body_timeout; }
  bool timed_out() const { return timed_out_; }

  // Between requests: whether the next one starts within idle_timeout; gives up early when the
  // server stops (checked every 100 ms).
  bool wait_for_request(const std::atomic<socket_t>& listening) {
    if (pos_ < end_) return true;  // pipelined: already here
    const auto until = Clock::now() + limits_.idle_timeout;
    while (listening != INVALID_SOCKET) {
      const auto step = std::min(until, Clock::now() + std::chrono::milliseconds(100));
      if (wait_for(fd_, POLLIN, step)) return true;
      if (Clock::now() >= until) return false;
    }
    return false;
  }

  bool client_gone() const {
    if (pos_ < end_) return false;
    // A peek that takes nothing: 0 is the client's FIN, an error other than "nothing yet" a reset.
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;
    if (n == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }

  bool is_readable() const override { return pos_ < end_ || wait_for(fd_, POLLIN, read_until()); }
  bool is_writable() const override {
    return wait_for(fd_, POLLOUT, Clock::now() + limits_.write_timeout) && !client_gone();
  }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == end_) {
      if (!wait_for(fd_, POLLIN, read_until())) {
        timed_out_ = Clock::now() >= deadline_;
        return -1;
      }
      ssize_t n;
      do n = ::recv(fd_, buf_, sizeof buf_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      pos_ = 0;
      end_ = size_t(n);
    }
    const size_t n = std::min(size, end_ - pos_);
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return ssize_t(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;  // the socket's send timeout (SO_SNDTIMEO, set by httplib) bounds a blocked send
    do n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) ip = address_text(a, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) ip = address_text(a, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  // A read waits for the phase deadline; with none (the request is being answered, when httplib
  // reads nothing), for at most a body's time.
  Clock::time_point read_until() const { return std::min(deadline_, Clock::now() + limits_.body_timeout); }

  const int fd_;
  const ConnectionLimits& limits_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  char buf_[4096];
  size_t pos_ = 0, end_ = 0;
};

// httplib's task queue: each admitted connection gets a thread at once (an idle one, or a new one
// kept for later), so none waits behind another; admission bounds their number.
class Listener::Threads final : public httplib::TaskQueue {
 public:
  explicit Threads(Listener& owner) : owner_(owner) {}
  ~Threads() override { shutdown(); }

  void enqueue(std::function<void()> job) override {
    owner_.admit();
    std::function<void()> here;
    {
      std::lock_guard lk(mu_);
      jobs_.push_back(std::move(job));
      if (idle_ < int(jobs_.size())) {  // threads not yet waiting took no job yet: count as busy
        try {
          threads_.emplace_back([this] { work(); });
          return;
        } catch (const std::system_error&) {
          // No thread to be had: the job waits for a busy one, or, with none, runs here (the
          // connection must be served or closed, and the server must not stop).
          if (!threads_.empty()) return;
          here = std::move(jobs_.back());
          jobs_.pop_back();
        }
      }
    }
    if (here)
      here();
    else
      cv_.notify_one();
  }

  // Runs what is queued, then joins every thread.
  void shutdown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) t.join();
  }

 private:
  void work() {
    std::unique_lock lk(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lk.unlock();
      job();
      lk.lock();
    }
  }

  Listener& owner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  bool stopping_ = false;
};

thread_local Listener::Stream* Listener::current_ = nullptr;

Listener::Listener(ConnectionLimits limits) : limits_(limits) {
  const auto ms = limits_.write_timeout.count();
  set_write_timeout(time_t(ms / 1000), time_t(ms % 1000 * 1000));  // SO_SNDTIMEO of each accepted socket
  new_task_queue = [this] { return new Threads(*this); };
}

void Listener::set_backlog(int backlog) {
  // listen() again on a listening socket only changes its backlog (Linux).
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, backlog);
}

void Listener::shutdown() {
  {
    std::lock_guard lk(mu_);
    shutting_down_ = true;
  }
  room_.notify_all();
  stop();
}

bool Listener::stopping() const {
  std::lock_guard lk(mu_);
  return shutting_down_;
}

ConnectionStats Listener::connection_stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void Listener::admit() {
  std::unique_lock lk(mu_);
  room_.wait(lk, [&] { return admitted_ < limits_.max_connections || shutting_down_; });
  ++admitted_;
}

void Listener::release() {
  {
    std::lock_guard lk(mu_);
    --admitted_;
  }
  room_.notify_one();
}

bool Listener::process_and_close_socket(socket_t sock) {
  Stream strm(sock, limits_);
  current_ = &strm;
  {
    std::lock_guard lk(mu_);
    ++stats_.open;
    ++stats_.accepted;
  }
  bool ok = false;
  for (int n = 0; n < limits_.requests_per_connection && svr_sock_ != INVALID_SOCKET; ++n) {
    // The first request's headers are due header_timeout after the connection; a later one's
    // after its first byte, which may come idle_timeout after the previous response.
    if (n > 0 && !strm.wait_for_request(svr_sock_)) break;
    strm.set_deadline(Clock::now() + limits_.header_timeout);
    bool closed = false;
    ok = process_request(strm, n + 1 == limits_.requests_per_connection, closed, nullptr);
    if (!ok || closed || strm.timed_out()) break;
  }
  current_ = nullptr;
  {  // before the close, so that a client who saw it finds it counted
    std::lock_guard lk(mu_);
    --stats_.open;
    if (strm.timed_out()) ++stats_.timed_out;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  release();
  return ok;
}

void Listener::body_next() {
  if (current_) current_->start_body();
}

void Listener::handling() {
  if (current_) current_->set_deadline(Clock::time_point::max());
}

bool Listener::client_gone() { return current_ && current_->client_gone(); }

}  // namespace fathom::server
