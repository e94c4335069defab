// `fathom prepare --chat`: JSONL conversations -> token files with a loss mask, for supervised
// fine-tuning on the assistant turns only.
//
// Input: files of one JSON object per line, {"messages": [{"role", "content"}...]} (blank lines
// skipped). Each conversation is rendered with the tokenizer's chat template (chat_tokens.h) and
// is one document; documents are concatenated as rendered (the template writes BOS and the EOS
// closing each assistant turn) and split into train / val by prepare.h's rule.
//
// Output (DATA/): train.bin, val.bin (uint32 ids, as `fathom prepare`), train.mask, val.mask (one
// byte per token: 1 = the token is a loss target, part of an assistant turn; 0 = context only),
// meta.json as `fathom prepare` plus "loss_mask": true and "format": "chat".
#pragma once
#include <filesystem>
#include <vector>

#include "training/prepare.h"

namespace fathom::train {

PrepareReport prepare_chat_data(const std::filesystem::path& tokenizer_dir,
                                const std::vector<std::filesystem::path>& files,
                                const std::filesystem::path& out_dir, const PrepareOptions& opts);

}  // namespace fathom::train
