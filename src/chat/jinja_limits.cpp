#include "chat/jinja_limits.h"

#include "chat/jinja_value.h"
#include "core/error.h"

namespace fathom::chat {

RenderBudget& RenderBudget::current() {
  thread_local RenderBudget budget;
  return budget;
}

void RenderBudget::check_string(size_t bytes) const {
  if (bytes > limits_.max_string_bytes)
    fail("a string of {} bytes exceeds the chat template limit of {} bytes", bytes, limits_.max_string_bytes);
}

void RenderBudget::check_items(size_t n) const {
  if (n > limits_.max_items) fail("a list of {} items exceeds the chat template limit of {} items", n, limits_.max_items);
}

void RenderBudget::check_time() const {
  if (std::chrono::steady_clock::now() > deadline_)
    fail("the chat template ran longer than its limit of {} s", limits_.max_seconds);
}

void RenderBudget::count_iteration() {
  if (++iterations_ > limits_.max_iterations)
    fail("the chat template's loops ran more than {} iterations", limits_.max_iterations);
  if ((++ticks_ & 255) == 0) check_time();
}

void RenderBudget::enter() {
  if (++depth_ > limits_.max_depth) {
    --depth_;
    fail("the chat template nests (or recurses) deeper than {} levels", limits_.max_depth);
  }
  if ((++ticks_ & 255) == 0) check_time();
}

void append_checked(std::string& out, std::string_view piece) {
  RenderBudget::current().check_string(out.size() + piece.size());
  out += piece;
}

RenderScope::RenderScope(const RenderLimits& limits) : saved_(RenderBudget::current()) {
  RenderBudget& b = RenderBudget::current();
  b = RenderBudget();
  b.limits_ = limits;
  const auto now = std::chrono::steady_clock::now();
  const auto span = std::chrono::duration<double>(limits.max_seconds);
  b.deadline_ = span < std::chrono::hours(24 * 365) ? now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(span)
                                                    : std::chrono::steady_clock::time_point::max();
  if (limits.max_seconds <= 0) b.deadline_ = now;  // expired from the start: every check fails
}

RenderScope::~RenderScope() {
  RenderBudget& b = RenderBudget::current();
  for (auto& weak : b.namespaces_)
    if (auto ns = weak.lock()) {
      auto items = std::move(ns->items);  // destroyed after ns is empty, so a cycle unwinds once
      ns->items.clear();
    }
  b = saved_;
}

}  // namespace fathom::chat
