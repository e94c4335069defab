// Resource limits of the Jinja interpreter. A chat template comes with a model directory from
// anyone, and its render runs on every chat request, so nothing it does may crash, hang or exhaust
// memory: recursion, loop iterations, list and string sizes and the wall time of one render are
// all bounded, and going past a bound is a fathom::Error naming it (the server answers it as a 400).
//
// The limits of the render in progress live in a per-thread budget that Template::render sets up
// (RenderScope), so the filters and methods in jinja_builtins.cpp check sizes without threading a
// context through every call. Outside a render the defaults apply.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::chat {

struct Object;

struct RenderLimits {
  int max_depth = 500;                   // nested evaluations: macro recursion, deep expressions
  int64_t max_iterations = 1'000'000;    // loop iterations of one render, all loops together
  size_t max_items = 100'000;            // elements of one list (range() included)
  size_t max_string_bytes = 8u << 20;     // any one string, the rendered output included
  double max_seconds = 10;               // wall time of one render
};

// How deeply the parser may nest (a recursive rule, or one link of a chain such as a + b + c, each
// count one level). It bounds the height of the node tree, so evaluating or destroying the tree
// never recurses further than this.
inline constexpr int kMaxParseDepth = 256;
// How deeply a value may nest when printed or converted to JSON (a list in a list ...).
inline constexpr int kMaxValueDepth = 256;

class RenderBudget {
 public:
  static RenderBudget& current();  // this thread's

  const RenderLimits& limits() const { return limits_; }
  void check_string(size_t bytes) const;  // fails when a string would exceed max_string_bytes
  void check_items(size_t n) const;       // fails when a list would exceed max_items
  void count_iteration();                 // one loop iteration (also checks the clock now and then)
  void check_time() const;
  void enter();                           // one evaluation level deeper (paired with leave)
  void leave() { --depth_; }
  // Namespaces are the one mutable container (`set ns.x = ns` makes a cycle of shared pointers);
  // the render's are emptied when it ends, so a cycle cannot outlive it as a leak.
  void track_namespace(const std::shared_ptr<Object>& ns) { namespaces_.push_back(ns); }

 private:
  friend class RenderScope;
  RenderLimits limits_;
  int depth_ = 0;
  int64_t iterations_ = 0;
  uint32_t ticks_ = 0;
  std::vector<std::weak_ptr<Object>> namespaces_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

// out += piece, failing first if the result would exceed max_string_bytes.
void append_checked(std::string& out, std::string_view piece);

// The budget of one render: sets this thread's limits for its lifetime, then restores the previous.
class RenderScope {
 public:
  explicit RenderScope(const RenderLimits& limits);
  ~RenderScope();
  RenderScope(const RenderScope&) = delete;
  RenderScope& operator=(const RenderScope&) = delete;

 private:
  RenderBudget saved_;
};

}  // namespace fathom::chat
