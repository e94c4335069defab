// Element types of checkpoint tensors and their scalar conversions to and from f32.
// The conversions here are the exact reference semantics every fast kernel must match.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace fathom {

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, F8_E5M2, F64, I64, I32, I16, I8, U8, BOOL };

// Safetensors spelling ("F32", "BF16", "F8_E4M3", ...). parse returns false for unknown names.
std::string_view dtype_name(DType t);
bool parse_dtype(std::string_view name, DType* out);
size_t dtype_size(DType t);
inline bool is_float_weight(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F8_E4M3 ||
         t == DType::F8_E5M2;
}

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// FP8 E4M3 ("fn" variant used by DeepSeek: bias 7, no infinities, S.1111.111 is NaN, max 448).
// Decoding goes through a 256-entry table built from the bit formula.
extern const std::array<float, 256> kE4M3ToF32;  // constant-initialized from the bit formula
extern const std::array<float, 256> kE5M2ToF32;
inline float e4m3_to_f32(uint8_t v) { return kE4M3ToF32[v]; }
inline float e5m2_to_f32(uint8_t v) { return kE5M2ToF32[v]; }
// Round to nearest even, saturating to +-448 (E4M3) / +-57344 (E5M2); NaN -> NaN.
uint8_t f32_to_e4m3(float f);
uint8_t f32_to_e5m2(float f);

// Converts n elements of type t at src to f32.
void to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace fathom
