// Data preparation: split files into documents, encode them in parallel, write them in order.
#include "training/prepare.h"

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "cpu/thread_pool.h"
#include "tokenizer/tokenizer.h"
#include "training/token_writer.h"

namespace fathom::train {

static_assert(std::endian::native == std::endian::little, "token files are written as native uint32");

namespace {

bool is_blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}

}  // namespace

std::vector<std::string_view> split_documents(std::string_view text) {
  std::vector<std::string_view> docs;
  size_t doc_begin = std::string_view::npos, doc_end = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t line_end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, line_end - pos);
    if (is_blank(line)) {
      if (doc_begin != std::string_view::npos) docs.push_back(text.substr(doc_begin, doc_end - doc_begin));
      doc_begin = std::string_view::npos;
    } else {
      if (doc_begin == std::string_view::npos) doc_begin = pos;
      doc_end = line_end;  // the document ends before its last newline
      if (doc_end > doc_begin && text[doc_end - 1] == '\r') --doc_end;
    }
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
  }
  if (doc_begin != std::string_view::npos) docs.push_back(text.substr(doc_begin, doc_end - doc_begin));
  return docs;
}

bool is_validation_document(int64_t i, double f) {
  if (f <= 0) return false;
  return std::floor(static_cast<double>(i + 1) * f) > std::floor(static_cast<double>(i) * f);
}

nlohmann::ordered_json prepared_meta(const tok::Tokenizer& tok, const std::filesystem::path& tokenizer_dir,
                                     const PrepareReport& r) {
  nlohmann::ordered_json meta;
  meta["vocab_size"] = r.vocab_size;
  meta["eos_id"] = tok.eos_id();
  meta["bos_id"] = tok.bos_id();
  meta["tokenizer"] = std::filesystem::weakly_canonical(std::filesystem::absolute(tokenizer_dir)).string();
  meta["train_tokens"] = r.train_tokens;
  meta["val_tokens"] = r.val_tokens;
  meta["train_documents"] = r.train_documents;
  meta["val_documents"] = r.val_documents;
  meta["dtype"] = "uint32";
  return meta;
}

PrepareReport prepare_data(const std::filesystem::path& tokenizer_dir,
                           const std::vector<std::filesystem::path>& files,
                           const std::filesystem::path& out_dir, const PrepareOptions& opts) {
  if (files.empty()) fail("prepare: no input files");
  if (opts.val_fraction < 0 || opts.val_fraction >= 1)
    fail("prepare: --val-fraction must be in [0, 1), got {}", opts.val_fraction);
  auto t0 = std::chrono::steady_clock::now();
  Tokenizer tok = Tokenizer::load(tokenizer_dir);
  if (tok.eos_id() < 0) fail("prepare: the tokenizer in {} has no EOS token", tokenizer_dir.string());
  const uint32_t eos = static_cast<uint32_t>(tok.eos_id());

  std::filesystem::create_directories(out_dir);
  TokenWriter train(out_dir / "train.bin"), val(out_dir / "val.bin");
  cpu::ThreadPool pool(opts.threads);
  PrepareReport r;
  r.vocab_size = static_cast<int64_t>(tok.vocab_size());
  int64_t doc_index = 0;
  for (size_t fi = 0; fi < files.size(); ++fi) {
    std::string text = read_text_file(files[fi].string());
    r.bytes += static_cast<int64_t>(text.size());
    auto docs = split_documents(text);
    std::vector<std::vector<uint32_t>> ids(docs.size());
    pool.parallel_for(static_cast<int64_t>(docs.size()), [&](int64_t d, int) {
      auto enc = tok.encode(docs[d], /*add_special=*/true);  // BOS first, per tokenizer_config
      ids[d].assign(enc.begin(), enc.end());
      if (!tok.add_eos() || ids[d].empty() || ids[d].back() != eos) ids[d].push_back(eos);
    });
    for (auto& doc : ids) {
      if (is_validation_document(doc_index++, opts.val_fraction)) {
        val.write(doc);
        ++r.val_documents;
      } else {
        train.write(doc);
        ++r.train_documents;
      }
    }
    if (opts.progress) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r[prepare] %zu / %zu files, %.1f MB, %lld tokens, %.1f s", fi + 1,
                   files.size(), r.bytes / 1e6,
                   static_cast<long long>(train.count() + val.count()), s);
      std::fflush(stderr);
    }
  }
  if (opts.progress) std::fprintf(stderr, "\n");
  train.commit();
  val.commit();
  r.train_tokens = train.count();
  r.val_tokens = val.count();

  write_meta_json(out_dir, prepared_meta(tok, tokenizer_dir, r));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace fathom::train
