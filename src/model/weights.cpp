#include "model/weights.h"

#include "core/error.h"
#include "model/quantize.h"
#include "model/tensor_schema.h"

namespace fathom {

namespace {

class Binder : public TensorVisitor {
 public:
  Binder(const io::Checkpoint& ckpt, const ModelConfig& cfg) : ckpt_(ckpt), cfg_(cfg) {}

  // A 2-D matrix [rows, cols] in any float format; F8_E4M3 needs block scales (sname).
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols, const std::string& sname) {
    const std::string expect = fmt::format("[{}, {}]", rows, cols);
    const io::TensorView& t = ckpt_.get(name, expect);
    WeightMatrix w;
    if (t.dtype == DType::U8) return quantized(t, rows, cols);
    check_shape(t, {rows, cols});
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    bytes_ += t.nbytes;
    switch (t.dtype) {
      case DType::F32: w.format = ops::WFormat::F32; break;
      case DType::F16: w.format = ops::WFormat::F16; break;
      case DType::BF16: w.format = ops::WFormat::BF16; break;
      case DType::F8_E5M2: w.format = ops::WFormat::F8_E5M2; break;
      case DType::F8_E4M3: {
        w.format = ops::WFormat::F8_E4M3;
        if (cfg_.quantization_config) {
          w.block_rows = cfg_.quantization_config->weight_block_size[0];
          w.block_cols = cfg_.quantization_config->weight_block_size[1];
        }
        const int64_t sr = (rows + w.block_rows - 1) / w.block_rows, sc = (cols + w.block_cols - 1) / w.block_cols;
        const io::TensorView& s = ckpt_.get(
            sname, fmt::format("F32 [{}, {}]: block scales of the F8_E4M3 weight {}", sr, sc, name));
        if (s.dtype != DType::F32)
          fail("{}: tensor '{}' has dtype {}, expected F32", *s.file, sname, dtype_name(s.dtype));
        check_shape(s, {sr, sc});
        w.scale_inv = reinterpret_cast<const float*>(s.data);
        bytes_ += s.nbytes;
        break;
      }
      default:
        fail("{}: tensor '{}' has dtype {}, expected one of F32, BF16, F16, F8_E4M3, F8_E5M2", *t.file, name,
             dtype_name(t.dtype));
    }
    return w;
  }

  // A block-quantized matrix written by fathom quantize (src/model/quantize.h).
  WeightMatrix quantized(const io::TensorView& t, int64_t rows, int64_t cols) {
    const SafetensorsFileRef shard = shard_of(t);
    auto it = shard->metadata().find(quant_metadata_key(t.name));
    if (it == shard->metadata().end())
      fail("{}: tensor '{}' is U8 but the file's metadata does not say how it is quantized", *t.file, t.name);
    const std::string& v = it->second;
    WeightMatrix w;
    const size_t colon = v.find(':');
    const std::string kind = v.substr(0, colon), shape = colon == std::string::npos ? "" : v.substr(colon + 1);
    if (kind == quant_layout_tag(ops::WFormat::Q8_0)) w.format = ops::WFormat::Q8_0;
    else if (kind == quant_layout_tag(ops::WFormat::Q4_0)) w.format = ops::WFormat::Q4_0;
    else if (kind == "Q8_0" || kind == "Q4_0")
      fail("{}: tensor '{}' is in the {} layout of fathom before 2026-11-23 (blocks stored one after another); "
           "this build reads the block-interleaved layout only: run fathom quantize again on the original checkpoint",
           *t.file, t.name, kind);
    else fail("{}: tensor '{}' has unknown quantization '{}'", *t.file, t.name, v);
    if (shape != fmt::format("{}x{}", rows, cols))
      fail("{}: tensor '{}' is quantized as {}, expected [{}, {}]", *t.file, t.name, shape, rows, cols);
    check_shape(t, {rows, ops::weight_row_bytes(w.format, cols)});
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    bytes_ += t.nbytes;
    return w;
  }

  // A 1-D vector (norm weight, bias), converted to f32.
  VectorView vec(const std::string& name, int64_t n) {
    const io::TensorView& t = ckpt_.get(name, fmt::format("[{}]", n));
    check_shape(t, {n});
    if (!is_float_weight(t.dtype) || t.dtype == DType::F8_E4M3)
      fail("{}: tensor '{}' has dtype {}, expected F32, BF16 or F16", *t.file, name, dtype_name(t.dtype));
    float* v = own(n);
    to_f32(t.dtype, t.data, v, size_t(n));
    bytes_ += t.nbytes;
    return VectorView(v, size_t(n));
  }

  // A 2-D matrix converted to f32 (the router: small, and kept exact).
  VectorView dense_f32(const std::string& name, int64_t rows, int64_t cols, const std::string& sname) {
    WeightMatrix w = matrix(name, rows, cols, sname);
    float* v = own(rows * cols);
    for (int64_t r = 0; r < rows; ++r) ops::dequant_row(w, r, v + r * cols);
    return VectorView(v, size_t(rows * cols));
  }

  // TensorVisitor: binds each tensor of the schema; a tensor with a fallback may be absent.
  void matrix(const TensorSpec& t, WeightMatrix& field) override {
    if (!t.fallback.empty() && !ckpt_.find(t.name)) return;
    field = matrix(t.name, t.rows(), t.cols(), t.block_scale);
  }
  void vector(const TensorSpec& t, VectorView& field) override {
    field = t.shape.size() == 2 ? dense_f32(t.name, t.rows(), t.cols(), t.block_scale) : vec(t.name, t.rows());
  }

  std::vector<std::shared_ptr<const float[]>> take_storage() { return std::move(storage_); }
  uint64_t bytes() const { return bytes_; }

 private:
  using SafetensorsFileRef = const io::SafetensorsFile*;
  SafetensorsFileRef shard_of(const io::TensorView& t) const {
    for (auto& s : ckpt_.shards())
      if (&s->path() == t.file || s->path() == *t.file) return s.get();
    fail("{}: tensor '{}' belongs to no open shard", *t.file, t.name);
  }

  void check_shape(const io::TensorView& t, std::vector<int64_t> shape) {
    if (t.shape != shape) {
      io::TensorView want;
      want.shape = shape;
      fail("{}: tensor '{}' has shape {}, expected {}", *t.file, t.name, t.shape_str(), want.shape_str());
    }
  }
  float* own(int64_t n) {
    std::shared_ptr<float[]> p(new float[size_t(n)]);
    storage_.push_back(p);
    return p.get();
  }

  const io::Checkpoint& ckpt_;
  const ModelConfig& cfg_;
  uint64_t bytes_ = 0;
  std::vector<std::shared_ptr<const float[]>> storage_;
};

}  // namespace

ModelWeights load_weights(const io::Checkpoint& ckpt, const ModelConfig& c) {
  Binder b(ckpt, c);
  ModelWeights w;
  visit_tensors(c, w, b);
  w.bytes = b.bytes();
  w.f32_storage = b.take_storage();
  return w;
}

}  // namespace fathom
