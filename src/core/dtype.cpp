#include "core/dtype.h"

#include "core/error.h"

#include <cmath>

namespace fathom {

namespace {
struct DTypeInfo {
  DType t;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kInfo[] = {
    {DType::F32, "F32", 4},         {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1}, {DType::F64, "F64", 8},
    {DType::I64, "I64", 8},         {DType::I32, "I32", 4},         {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},           {DType::U8, "U8", 1},           {DType::BOOL, "BOOL", 1},
};

// Decodes a minifloat with the given exponent/mantissa widths and bias (subnormals included).
// ieee: the all-ones exponent means inf/NaN (E5M2); otherwise only S.1111.111 is NaN (E4M3fn).
constexpr float decode_minifloat(int v, int exp_bits, int man_bits, int bias, bool ieee) {
  int sign = v >> 7;
  int e = (v >> man_bits) & ((1 << exp_bits) - 1);
  int m = v & ((1 << man_bits) - 1);
  float s = sign ? -1.0f : 1.0f;
  if (ieee && e == (1 << exp_bits) - 1) return m ? __builtin_nanf("") : s * __builtin_inff();
  if (!ieee && e == (1 << exp_bits) - 1 && m == (1 << man_bits) - 1) return __builtin_nanf("");
  // value = m * 2^(1-bias-man) for subnormals, (m + 2^man) * 2^(e-bias-man) otherwise.
  int shift = (e == 0 ? 1 : e) - bias - man_bits;
  float mant = float(e == 0 ? m : m + (1 << man_bits));
  float p = 1.0f;
  for (int i = 0; i < (shift < 0 ? -shift : shift); ++i) p *= 2.0f;
  return s * (shift < 0 ? mant / p : mant * p);
}

// Round-to-nearest-even encode by binary search over the increasing codes 0..max_code.
uint8_t encode_minifloat(float f, const float* table, int max_code, uint8_t nan_code) {
  if (std::isnan(f)) return nan_code;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= table[max_code]) return sign | uint8_t(max_code);
  int lo = 0, hi = max_code;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (table[mid] <= a) lo = mid; else hi = mid;
  }
  float dl = a - table[lo], dh = table[hi] - a;
  int code = (dl < dh) ? lo : (dh < dl) ? hi : ((lo & 1) ? hi : lo);
  return sign | uint8_t(code);
}
}  // namespace

namespace {
template <int E, int M, int B, bool IEEE>
constexpr std::array<float, 256> make_table() {
  std::array<float, 256> t{};
  for (int i = 0; i < 256; ++i) t[i] = decode_minifloat(i, E, M, B, IEEE);
  return t;
}
}  // namespace

extern const std::array<float, 256> kE4M3ToF32 = make_table<4, 3, 7, false>();
extern const std::array<float, 256> kE5M2ToF32 = make_table<5, 2, 15, true>();

std::string_view dtype_name(DType t) {
  for (auto& i : kInfo)
    if (i.t == t) return i.name;
  return "?";
}
bool parse_dtype(std::string_view name, DType* out) {
  for (auto& i : kInfo)
    if (name == i.name) {
      *out = i.t;
      return true;
    }
  return false;
}
size_t dtype_size(DType t) {
  for (auto& i : kInfo)
    if (i.t == t) return i.size;
  return 0;
}

float f16_to_f32(uint16_t h) {
  // Bit manipulation, exact for every input (no libm: this sits in dequantization loops).
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  uint32_t u;
  if (e == 0) {
    float v = float(m) * 0x1p-24f;  // zero and subnormals: m * 2^-24, exact in f32
    std::memcpy(&u, &v, 4);
  } else if (e == 31) {
    u = 0x7f800000u | (m << 13);  // inf, NaN (payload kept)
  } else {
    u = ((e + 112) << 23) | (m << 13);  // rebias 15 -> 127
  }
  u |= sign;
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.0f) return sign | 0x7c00;  // rounds to inf
  if (a < 6.103515625e-05f) {               // subnormal: multiples of 2^-24, RNE via nearbyint
    return sign | uint16_t(std::nearbyint(a * 16777216.0f));
  }
  uint32_t au = u & 0x7fffffffu;
  uint32_t mant = au & 0x7fffff;
  int e = int(au >> 23) - 127 + 15;
  uint32_t r = (uint32_t(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) ++r;
  return sign | uint16_t(r);
}

uint8_t f32_to_e4m3(float f) { return encode_minifloat(f, kE4M3ToF32.data(), 0x7e, 0x7f); }
uint8_t f32_to_e5m2(float f) {
  if (std::isinf(f)) return f > 0 ? 0x7b : 0xfb;  // saturating encode, like the e4m3 path
  return encode_minifloat(f, kE5M2ToF32.data(), 0x7b, 0x7f);
}

void to_f32(DType t, const void* src, float* dst, size_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::BF16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::F8_E4M3: {
      auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = kE4M3ToF32[s[i]];
      return;
    }
    case DType::F8_E5M2: {
      auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = kE5M2ToF32[s[i]];
      return;
    }
    case DType::F64: {
      auto* s = static_cast<const double*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    default: fail("cannot convert {} to f32", dtype_name(t));
  }
}

}  // namespace fathom
