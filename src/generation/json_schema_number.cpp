#include "generation/json_schema_number.h"

#include <cctype>

#include "core/error.h"

namespace fathom::gen {

namespace {

void normalize(Decimal& d) {
  const size_t lead = d.int_digits.find_first_not_of('0');
  d.int_digits.erase(0, lead == std::string::npos ? d.int_digits.size() : lead);
  const size_t trail = d.frac_digits.find_last_not_of('0');
  d.frac_digits.erase(trail == std::string::npos ? 0 : trail + 1);
  if (d.is_zero()) d.negative = false;
}

int compare_magnitude(const Decimal& a, const Decimal& b) {
  if (a.int_digits.size() != b.int_digits.size()) return a.int_digits.size() < b.int_digits.size() ? -1 : 1;
  if (int c = a.int_digits.compare(b.int_digits)) return c < 0 ? -1 : 1;
  if (int c = a.frac_digits.compare(b.frac_digits)) return c < 0 ? -1 : 1;  // no trailing zeros: plain order
  return 0;
}

// digits + 1, as decimal digit strings ("199" -> "200", "" -> "1").
std::string increment(std::string digits) {
  for (size_t i = digits.size(); i-- > 0;) {
    if (digits[i] != '9') {
      ++digits[i];
      return digits;
    }
    digits[i] = '0';
  }
  return "1" + digits;
}

// digits - 1 for digits >= 1 ("200" -> "199").
std::string decrement(std::string digits) {
  for (size_t i = digits.size(); i-- > 0;) {
    if (digits[i] != '0') {
      --digits[i];
      return digits;
    }
    digits[i] = '9';
  }
  return digits;
}

Decimal make(bool negative, std::string int_digits, std::string frac_digits = "") {
  Decimal d{negative, std::move(int_digits), std::move(frac_digits)};
  normalize(d);
  return d;
}

// One end of an interval: nullopt is infinite.
struct End {
  std::optional<Decimal> at;
  bool included = false;
};

// Whether [lo, hi] of one interval meets that of another (each non-empty or open-ended).
bool intersects(const End& lo_a, const End& hi_a, const End& lo_b, const End& hi_b) {
  auto larger_low = [](const End& x, const End& y) {
    if (!x.at) return y;
    if (!y.at) return x;
    const int c = compare(*x.at, *y.at);
    if (c != 0) return c > 0 ? x : y;
    return End{x.at, x.included && y.included};
  };
  auto smaller_high = [](const End& x, const End& y) {
    if (!x.at) return y;
    if (!y.at) return x;
    const int c = compare(*x.at, *y.at);
    if (c != 0) return c < 0 ? x : y;
    return End{x.at, x.included && y.included};
  };
  const End lo = larger_low(lo_a, lo_b), hi = smaller_high(hi_a, hi_b);
  if (!lo.at || !hi.at) return true;
  const int c = compare(*lo.at, *hi.at);
  return c < 0 || (c == 0 && lo.included && hi.included);
}

}  // namespace

std::optional<Decimal> Decimal::parse(std::string_view text) {
  Decimal d;
  size_t i = 0;
  if (i < text.size() && text[i] == '-') d.negative = true, ++i;
  std::string digits;
  size_t point = std::string::npos;
  for (; i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'); ++i) {
    if (text[i] == '.') {
      if (point != std::string::npos) return std::nullopt;
      point = digits.size();
    } else {
      digits += text[i];
    }
  }
  if (digits.empty()) return std::nullopt;
  if (point == std::string::npos) point = digits.size();
  long exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) neg = text[i++] == '-';
    if (i == text.size()) return std::nullopt;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      exponent = exponent * 10 + (text[i] - '0');
      if (exponent > 400) return std::nullopt;  // beyond any double: no bound or number here needs it
    }
    if (neg) exponent = -exponent;
  }
  if (i != text.size()) return std::nullopt;
  const long p = long(point) + exponent;  // the decimal point's place among `digits`
  if (p <= 0) {
    d.frac_digits = std::string(size_t(-p), '0') + digits;
  } else if (size_t(p) >= digits.size()) {
    d.int_digits = digits + std::string(size_t(p) - digits.size(), '0');
  } else {
    d.int_digits = digits.substr(0, size_t(p));
    d.frac_digits = digits.substr(size_t(p));
  }
  normalize(d);
  return d;
}

int compare(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;  // zero is never negative
  const int m = compare_magnitude(a, b);
  return a.negative ? -m : m;
}

bool NumberRange::contains(std::string_view text) const {
  const auto x = Decimal::parse(text);
  if (!x) return false;
  if (integer && !x->is_integer()) return false;
  if (lo) {
    const int c = compare(*x, *lo);
    if (c < 0 || (c == 0 && lo_exclusive)) return false;
  }
  if (hi) {
    const int c = compare(*x, *hi);
    if (c > 0 || (c == 0 && hi_exclusive)) return false;
  }
  return true;
}

bool NumberRange::reachable(std::string_view prefix) const {
  const End rlo{lo, !lo_exclusive}, rhi{hi, !hi_exclusive};
  const bool negative = !prefix.empty() && prefix[0] == '-';
  const std::string_view body = prefix.substr(negative ? 1 : 0);
  if (body.empty()) {  // "" reaches anything; "-" every x <= 0 ("-0" is zero)
    return negative ? intersects(End{}, End{Decimal{}, true}, rlo, rhi) : intersects(End{}, End{}, rlo, rhi);
  }
  const size_t dot = body.find('.');
  const std::string int_part(body.substr(0, dot));
  // Magnitudes y in [a, b) become x in [a, b), or (-b, -a] for a negative number.
  auto meets = [&](const Decimal& a, const Decimal& b) {
    if (!negative) return intersects(End{a, true}, End{b, false}, rlo, rhi);
    Decimal na = a, nb = b;
    na.negative = !na.is_zero();
    nb.negative = !nb.is_zero();
    return intersects(End{nb, false}, End{na, true}, rlo, rhi);
  };
  if (dot != std::string_view::npos) {  // "I.F": [I.F, I.F + 10^-|F|)
    const std::string frac(body.substr(dot + 1));
    const std::string next = increment(int_part + frac);
    const size_t int_len = next.size() - frac.size();
    return meets(make(false, int_part, frac), make(false, next.substr(0, int_len), next.substr(int_len)));
  }
  // "I": I itself and its fractions, [I, I+1); then, unless I is 0 (no leading zeros), every
  // longer integer part, [I * 10^k, (I+1) * 10^k) for k >= 1.
  if (meets(make(false, int_part), make(false, increment(int_part)))) return true;
  if (int_part == "0") return false;
  // The intervals move away from zero: once their near end is past the bound on that side, so are
  // all that follow; without a bound there, one of them reaches the range.
  const std::optional<Decimal>& far = negative ? lo : hi;
  if (!far) return true;
  for (std::string zeros = "0";; zeros += '0') {
    Decimal near = make(false, int_part + zeros);
    near.negative = negative;
    if (negative ? compare(near, *far) < 0 : compare(near, *far) > 0) return false;
    near.negative = false;
    if (meets(near, make(false, increment(int_part) + zeros))) return true;
  }
}

NumberRange integer_range(std::optional<Decimal> lo, bool lo_exclusive, std::optional<Decimal> hi,
                          bool hi_exclusive) {
  // x + 1 and x - 1 for whole x.
  auto step = [](const Decimal& x, bool up) {
    if (x.is_zero()) return make(!up, "1");
    if (x.negative == up) return make(x.negative, decrement(x.int_digits));  // toward zero
    return make(x.negative, increment(x.int_digits));
  };
  NumberRange r;
  r.integer = true;
  if (lo) {
    if (!lo->is_integer()) fail("minimum / exclusiveMinimum of an integer schema must be a whole number");
    r.lo = lo_exclusive ? step(*lo, true) : *lo;
  }
  if (hi) {
    if (!hi->is_integer()) fail("maximum / exclusiveMaximum of an integer schema must be a whole number");
    r.hi = hi_exclusive ? step(*hi, false) : *hi;
  }
  return r;
}

}  // namespace fathom::gen
