#include "training/prepare_chat.h"

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"
#include "cpu/thread_pool.h"
#include "tokenizer/tokenizer.h"
#include "training/chat_tokens.h"
#include "training/token_writer.h"

namespace fathom::train {

PrepareReport prepare_chat_data(const std::filesystem::path& tokenizer_dir,
                                const std::vector<std::filesystem::path>& files,
                                const std::filesystem::path& out_dir, const PrepareOptions& opts) {
  if (files.empty()) fail("prepare: no input files");
  if (opts.val_fraction < 0 || opts.val_fraction >= 1)
    fail("prepare: --val-fraction must be in [0, 1), got {}", opts.val_fraction);
  const auto t0 = std::chrono::steady_clock::now();
  const tok::Tokenizer tok = tok::Tokenizer::load(tokenizer_dir);
  const ChatRenderer chat(tok);

  std::filesystem::create_directories(out_dir);
  TokenWriter train(out_dir / "train.bin"), val(out_dir / "val.bin");
  ArrayWriter<uint8_t> train_mask(out_dir / "train.mask"), val_mask(out_dir / "val.mask");
  cpu::ThreadPool pool(opts.threads);
  PrepareReport r;
  r.vocab_size = static_cast<int64_t>(tok.vocab_size());
  int64_t doc_index = 0;
  for (const auto& file : files) {
    const std::string text = read_text_file(file.string());
    r.bytes += static_cast<int64_t>(text.size());
    // (line number, conversation) of every non-blank line.
    std::vector<std::pair<int64_t, nlohmann::ordered_json>> convs;
    size_t pos = 0;
    for (int64_t line_no = 1; pos < text.size(); ++line_no) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      const std::string_view line(text.data() + pos, nl - pos);
      pos = nl + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      auto j = nlohmann::ordered_json::parse(line, nullptr, false);
      const std::string where = fmt::format("{}:{}", file.string(), line_no);
      if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", where);
      if (!j.contains("messages")) fail("{}: no \"messages\" field", where);
      convs.emplace_back(line_no, std::move(j["messages"]));
    }
    std::vector<ChatTokens> out(convs.size());
    std::vector<std::string> errors(convs.size());  // the pool does not carry exceptions across threads
    pool.parallel_for(static_cast<int64_t>(convs.size()), [&](int64_t i, int) {
      try {
        out[i] = chat.conversation(convs[i].second, fmt::format("{}:{}", file.string(), convs[i].first));
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
    for (const auto& e : errors)
      if (!e.empty()) fail("{}", e);
    for (auto& c : out) {
      std::vector<uint32_t> ids(c.ids.begin(), c.ids.end());
      if (is_validation_document(doc_index++, opts.val_fraction)) {
        val.write(ids);
        val_mask.write(c.mask);
        ++r.val_documents;
      } else {
        train.write(ids);
        train_mask.write(c.mask);
        ++r.train_documents;
      }
    }
  }
  train.commit();
  val.commit();
  train_mask.commit();
  val_mask.commit();
  r.train_tokens = train.count();
  r.val_tokens = val.count();

  nlohmann::ordered_json meta = prepared_meta(tok, tokenizer_dir, r);
  meta["format"] = "chat";
  meta["loss_mask"] = true;
  write_meta_json(out_dir, meta);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace fathom::train
