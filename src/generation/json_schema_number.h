#pragma once
// Number ranges of a JSON schema (minimum, maximum, exclusiveMinimum, exclusiveMaximum) decided
// exactly on the decimal text being generated, never through a double: a prefix is allowed only
// when some completion of it lies in the range, and a number ends only inside it.
//
// A bound is the shortest decimal that reads back as the schema's double (0.1 for 0.1), so every
// number allowed here also passes a validator that compares doubles (ajv), since rounding to the
// nearest double keeps order. Numbers under a range have no exponent (1e3): the grammar leaves it
// out rather than reason about it.
#include <optional>
#include <string>
#include <string_view>

namespace fathom::gen {

// An exact decimal: sign, integer digits without leading zeros, fraction digits without trailing
// zeros. Zero is {false, "", ""}.
struct Decimal {
  bool negative = false;
  std::string int_digits;
  std::string frac_digits;

  // Parses JSON number text (exponent allowed). Returns nullopt when it is not one.
  static std::optional<Decimal> parse(std::string_view text);
  bool is_zero() const { return int_digits.empty() && frac_digits.empty(); }
  bool is_integer() const { return frac_digits.empty(); }
};

// -1, 0, 1 as a < b, a == b, a > b (so -0 == 0).
int compare(const Decimal& a, const Decimal& b);

struct NumberRange {
  bool integer = false;  // whole numbers only (a fraction is not generated)
  std::optional<Decimal> lo, hi;
  bool lo_exclusive = false, hi_exclusive = false;

  bool empty() const { return !lo && !hi; }
  // True when `text`, a complete JSON number, lies in the range.
  bool contains(std::string_view text) const;
  // True when some JSON number that starts with `prefix` (a valid prefix without exponent: "",
  // "-", "12", "-0.", "3.25") lies in the range.
  bool reachable(std::string_view prefix) const;
};

// The range of an integer schema, with bounds made inclusive (exclusiveMinimum 3 is minimum 4).
// Fails (fathom::Error) on a bound that is not a whole number, naming it.
NumberRange integer_range(std::optional<Decimal> lo, bool lo_exclusive, std::optional<Decimal> hi,
                          bool hi_exclusive);

}  // namespace fathom::gen
