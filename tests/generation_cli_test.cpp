// `fathom run`, `fathom chat` and `fathom eval-arith` as a user runs them: the streamed output equals the library's
// greedy generation, seeds repeat, chat works through a pipe, and every bad input gives one clear
// line on stderr and a non-zero exit. (The terminal side of chat: tests/cli_chat_tty.sh.)
#include "test_paths.h"
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "generation/generator.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "training/arith_task.h"

using namespace fathom;
namespace fs = std::filesystem;

namespace {

struct Proc {
  int status;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `fathom ARGS` through the shell with stdin from `input`.
Proc run_fathom(const std::string& args, const std::string& input = "") {
  static int n = 0;
  const fs::path dir = fs::path(FATHOM_TEST_TMP) / "cli";
  fs::create_directories(dir);
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(n++);
  const fs::path in = dir / ("in-" + tag), out = dir / ("out-" + tag), err = dir / ("err-" + tag);
  std::ofstream(in, std::ios::binary) << input;
  const std::string cmd = "env -u FATHOM_MODEL " + std::string(FATHOM_BINARY) + " " + args + " < " + in.string() +
                          " > " + out.string() + " 2> " + err.string();
  int rc = std::system(cmd.c_str());
  Proc r{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
  fs::remove(in);
  fs::remove(out);
  fs::remove(err);
  return r;
}

std::string model(const std::string& preset = "tiny-v3", SynthDType dtype = SynthDType::BF16) {
  std::string dir = test::synth_model(preset, dtype);
  if (!fs::exists(fs::path(dir) / "tokenizer.json")) synth_write_tokenizer(synth_preset_config(preset), dir, "");
  return dir;
}

// A bad input: non-zero exit and exactly one line on stderr saying `what`.
void expect_error(const Proc& r, const std::string& what) {
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(what), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace

TEST(CliRun, GreedyOutputIsTheLibrarysGreedyGeneration) {
  const std::string dir = model();
  Proc r = run_fathom("run " + dir + " -p 'The capital of France is' -n 12 --temp 0 -t 1");
  ASSERT_EQ(r.status, 0) << r.err;
  // The same computation as the command: the fast kernels on one thread.
  auto m = Model::load(dir);
  Tokenizer tok = Tokenizer::load(dir);
  Runtime rt(1);
  Generator gen(*m, tok, 4096, rt.exec());
  GenerationRequest req;
  req.prompt = tok.encode("The capital of France is", true);
  req.max_tokens = 12;
  req.sampling.temperature = 0;
  EXPECT_EQ(r.out, gen.generate(req).text);
  EXPECT_NE(r.err.find("prompt: "), std::string::npos);
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
}

TEST(CliRun, PromptFromStdinAndFileEqualsDashP) {
  const std::string dir = model();
  Proc p = run_fathom("run " + dir + " -p 'Hello there' -n 8 --temp 0");
  Proc in = run_fathom("run " + dir + " -n 8 --temp 0", "Hello there");
  const fs::path file = fs::path(FATHOM_TEST_TMP) / "cli" / "prompt.txt";
  std::ofstream(file) << "Hello there";
  Proc f = run_fathom("run " + dir + " -f " + file.string() + " -n 8 --temp 0");
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(in.out, p.out);
  EXPECT_EQ(f.out, p.out);
}

TEST(CliRun, SeededSamplingRepeats) {
  const std::string dir = model();
  const std::string args = "run " + dir + " -p 'Once upon a time' -n 24 --temp 1.2 --top-k 0 --top-p 1 --min-p 0";
  Proc a = run_fathom(args + " --seed 5"), b = run_fathom(args + " --seed 5"), c = run_fathom(args + " --seed 6");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST(CliRun, IgnoreEosGeneratesPastTheEndOfText) {
  const std::string dir = model();
  // Seeded sampling that reaches the end-of-text token well before 300 tokens (checked first, so
  // that a change of the tiny model shows up as this precondition, not as a silent pass).
  const std::string args = "run " + dir + " -p 'Hi' -n 300 --temp 1.5 --seed 4";
  Proc stopped = run_fathom(args);
  ASSERT_EQ(stopped.status, 0) << stopped.err;
  ASSERT_NE(stopped.err.find("stop: eos"), std::string::npos) << stopped.err;
  Proc on = run_fathom(args + " --ignore-eos");
  ASSERT_EQ(on.status, 0) << on.err;
  EXPECT_NE(on.err.find("stop: length"), std::string::npos) << on.err;
  EXPECT_GT(on.out.size(), stopped.out.size());
  EXPECT_EQ(on.out.substr(0, stopped.out.size()), stopped.out);  // the same draws up to the EOS
}

// --cache-type q8: the 8-bit latent cache is what the command really allocates (--verbose reports its
// bytes per token), generation runs on it, and an unknown type is refused by name.
TEST(CliRun, CacheTypeQ8ShrinksTheCacheAndGenerates) {
  const std::string dir = model();
  auto bytes_per_token = [](const std::string& err, const std::string& type) {
    const std::string key = "KV cache (" + type + ") ";
    const size_t at = err.find(key);
    EXPECT_NE(at, std::string::npos) << err;
    return at == std::string::npos ? 0.0 : std::stod(err.substr(at + key.size()));
  };
  Proc f32 = run_fathom("run " + dir + " -p 'Hi' -n 12 --temp 0 --ignore-eos --verbose");
  Proc q8 = run_fathom("run " + dir + " -p 'Hi' -n 12 --temp 0 --ignore-eos --verbose --cache-type q8");
  ASSERT_EQ(f32.status, 0) << f32.err;
  ASSERT_EQ(q8.status, 0) << q8.err;
  EXPECT_NE(q8.err.find("stop: length"), std::string::npos) << q8.err;
  EXPECT_FALSE(q8.out.empty());
  // The tiny model's row is 32 + 8 values: 160 bytes per layer in f32; in q8 32 + 8 bytes (both
  // parts already multiples of the layout's padding) and two f32 scales.
  EXPECT_DOUBLE_EQ(bytes_per_token(q8.err, "q8") / bytes_per_token(f32.err, "f32"), 48.0 / 160.0) << f32.err << q8.err;
  Proc bad = run_fathom("run " + dir + " -p 'Hi' -n 2 --cache-type q4");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("q4"), std::string::npos) << bad.err;
}

TEST(CliRun, ChatFlagUsesTheTemplate) {
  const std::string dir = model();
  Proc r = run_fathom("run " + dir + " --chat -p 'Hello' -n 8 --temp 0 --verbose");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("KV cache"), std::string::npos);
  EXPECT_NE(r.err.find("peak RSS"), std::string::npos);
  EXPECT_NE(r.err.find("weights"), std::string::npos);
  // BOS <｜User｜> Hello <｜Assistant｜>: the template's tokens, not the text's.
  Tokenizer tok = Tokenizer::load(dir);
  EXPECT_NE(r.err.find("prompt: " + std::to_string(tok.encode("<｜User｜>Hello<｜Assistant｜>", true).size()) + " tokens"),
            std::string::npos)
      << r.err;
}

TEST(CliChat, ThroughAPipe) {
  const std::string dir = model();
  // First turn of chat = run --chat on the same message.
  Proc one = run_fathom("run " + dir + " --chat -p 'Hello' -n 8 --temp 0");
  Proc chat = run_fathom("chat " + dir + " -n 8 --temp 0", "Hello\n\nWhat is 2+2?\n/reset\nHello\n/exit\nnot read\n");
  ASSERT_EQ(chat.status, 0) << chat.err;
  EXPECT_EQ(chat.out.find("\x1b"), std::string::npos) << "escape codes on a pipe";
  EXPECT_EQ(chat.out.find(">>>"), std::string::npos) << "a prompt on a pipe";
  ASSERT_EQ(chat.out.rfind(one.out, 0), 0u) << "chat: " << chat.out << "\nrun: " << one.out;
  // After /reset the same message gets the same greedy answer again: the third answer.
  std::string expected = one.out + (one.out.empty() || one.out.back() != '\n' ? "\n" : "");
  ASSERT_GE(chat.out.size(), 2 * expected.size());
  EXPECT_EQ(chat.out.substr(chat.out.size() - expected.size()), expected);
  EXPECT_NE(chat.err.find("conversation cleared"), std::string::npos);
}

// eval-arith's report: a line per operation whose problem counts are those of the task's stream
// (so the tallies follow the problems asked, not the order or a fixed split), adding up to --n.
TEST(CliEvalArith, ReportsAccuracyPerOperation) {
  const std::string dir = model();
  Proc r = run_fathom("eval-arith " + dir + " --n 30 --seed 9 --max-tokens 3 -t 1");
  ASSERT_EQ(r.status, 0) << r.err;
  std::map<char, int64_t> asked;
  for (int64_t i = 0; i < 30; ++i) ++asked[train::arith_problem(9, i).op];
  int64_t total = 0;
  for (char op : {'+', '-', '*'}) {
    const std::string head = std::string("  A ") + op + " B";
    const size_t at = r.out.find(head);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    long long correct = -1, problems = -1;
    ASSERT_EQ(std::sscanf(line.c_str() + head.size(), " %*f (%lld of %lld", &correct, &problems), 2) << line;
    EXPECT_EQ(problems, asked[op]) << line;
    EXPECT_GE(correct, 0);
    EXPECT_LE(correct, problems);
    total += problems;
  }
  EXPECT_EQ(total, 30);
  EXPECT_NE(r.out.find("problems       30 (seed 9, greedy)"), std::string::npos) << r.out;
}

// --temp: sampled answers, repeatable from the seed, not the greedy ones.
TEST(CliEvalArith, SampledAnswersRepeatAndDifferFromGreedy) {
  const std::string dir = model();
  const std::string args = "eval-arith " + dir + " --n 4 --seed 9 --max-tokens 8 -t 1 --show";
  Proc greedy = run_fathom(args), a = run_fathom(args + " --temp 1"), b = run_fathom(args + " --temp 1");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out.find("sampled at temperature 1"), std::string::npos) << a.out;
  const auto answers = [](const std::string& out) { return out.substr(0, out.find("problems       ")); };
  EXPECT_NE(answers(a.out), answers(greedy.out));
  Proc bad = run_fathom("eval-arith " + dir + " --temp -1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--temp"), std::string::npos) << bad.err;
}

TEST(CliErrors, EachBadInputHasItsLine) {
  const std::string dir = model();
  const fs::path tmp = fs::path(test::scratch_dir("cli-errors"));
  expect_error(run_fathom("run " + (tmp / "nope").string() + " -p hi"), "no such model directory");
  fs::create_directories(tmp / "empty");
  expect_error(run_fathom("run " + (tmp / "empty").string() + " -p hi"), "no config.json");
  // Incomplete: a shard missing.
  fs::copy(dir, tmp / "partial");
  for (auto& e : fs::directory_iterator(tmp / "partial"))
    if (e.path().filename().string().rfind("model-00001", 0) == 0) fs::remove(e.path());
  expect_error(run_fathom("run " + (tmp / "partial").string() + " -p hi"), "model-00001");
  expect_error(run_fathom("run " + dir + " --ctx 4 -p 'a prompt much longer than four tokens'"), "longer than the context");
  expect_error(run_fathom("run " + dir + " -p hi -n -1"), "-n must be >= 0");
  expect_error(run_fathom("run " + dir + " -p hi --temp -1"), "temperature");
  const fs::path bad = tmp / "bad.txt";
  std::ofstream(bad, std::ios::binary) << "caf\xC3 \xFF";
  expect_error(run_fathom("run " + dir + " -f " + bad.string()), "not valid UTF-8");
  expect_error(run_fathom("run " + dir + " -p hi --stop ''"), "stop string");
  // Without MODEL_DIR: an error until a default model is installed beside the build.
  if (!fs::exists(fs::path(FATHOM_BINARY).parent_path().parent_path() / "models/default/config.json")) {
    expect_error(run_fathom("run -p hi"), "no model given and no default model installed");
    expect_error(run_fathom("chat"), "no model given and no default model installed");
  }
  Proc unknown = run_fathom("run " + dir + " -p hi --frobnicate");
  EXPECT_NE(unknown.status, 0);
  EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos) << unknown.err;
}

// `fathom bench` rows say what the weights are: the layers' format and, below 1 GB, the size in MB.
TEST(CliBench, RowsNameTheWeightFormatAndSizeInMB) {
  const fs::path tmp = fs::path(test::scratch_dir("cli-bench"));
  const std::string q4 = (tmp / "q4").string();
  Proc quant = run_fathom("quantize " + model("tiny-v3", SynthDType::BF16) + " " + q4 + " --type q4_0");
  ASSERT_EQ(quant.status, 0) << quant.err;
  const std::pair<std::string, std::string> cases[] = {{model("tiny-v3", SynthDType::F32), "f32"},
                                                      {model("tiny-v3", SynthDType::BF16), "bf16"},
                                                      {model("tiny-v3", SynthDType::FP8), "fp8"},
                                                      {q4, "q4_0"}};
  for (const auto& [dir, format] : cases) {
    Proc r = run_fathom("bench " + dir + " -p 4 -n 2 -r 1 -t 1");
    ASSERT_EQ(r.status, 0) << r.err;
    int rows = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("| pp4 |") == std::string::npos && line.find("| tg2 @ d0 |") == std::string::npos) continue;
      ++rows;
      // "| deepseek_v3 2L | fp8 | 1.2 MB | 1 | pp4 | ..."
      EXPECT_NE(line.find(" | " + format + " | "), std::string::npos) << line;
      EXPECT_NE(line.find(" MB | 1 | "), std::string::npos) << line;
    }
    EXPECT_EQ(rows, 2) << r.out;
  }
}

// `fathom bench --verify K,...`: one row per K (one-token and verify milliseconds, their ratio, the
// distinct experts and bytes), the tokens it used, and one clear error for a K that is not a draft count.
TEST(CliBench, VerifyPrintsARowPerDraftCountAndRefusesBadCounts) {
  const std::string dir = model("tiny-v3", SynthDType::FP8);
  Proc r = run_fathom("bench " + dir + " -p 0 -n 0 -r 2 -t 1 --verify 1,3");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* row : {"| verify K=1 @ d0 | ", "| verify K=3 @ d0 | "})
    EXPECT_NE(r.out.find(row), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| 1-token ms | verify ms | x 1-token |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verify tokens: greedy continuation"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("two consecutive tokens share"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("| t/s |"), std::string::npos) << "no pp/tg table with -p 0 -n 0: " << r.out;
  const std::pair<std::string, std::string> bad[] = {{"0", "0 is out of range"},
                                                     {"-1", "-1 is out of range"},
                                                     {"two", "'two' is not a whole number"},
                                                     {"1.5", "'1.5' is not a whole number"},
                                                     {"1,,2", "'' is not a whole number"},
                                                     {"1,", "'1,' is not a comma-separated list"},
                                                     {"65", "65 is out of range"}};
  for (const auto& [value, what] : bad) expect_error(run_fathom("bench " + dir + " --verify=" + value), "--verify: " + what);
}

// `fathom perplexity`'s default window is 512 tokens, or the model's max_position_embeddings when
// that is less (a longer window scores the model's extrapolation, issue 24); a --ctx past it is refused.
TEST(CliPerplexity, DefaultWindowNeverExceedsTheModelsContext) {
  const fs::path tmp = fs::path(test::scratch_dir("cli-perplexity"));
  const fs::path short_ctx = tmp / "ctx64";
  fs::create_directories(short_ctx);
  for (const auto& e : fs::directory_iterator(model()))
    fs::copy_file(e.path(), short_ctx / e.path().filename(), fs::copy_options::overwrite_existing);
  nlohmann::json cfg = nlohmann::json::parse(slurp(short_ctx / "config.json"));
  cfg["max_position_embeddings"] = 64;
  std::ofstream(short_ctx / "config.json") << cfg.dump();
  std::string text;
  for (int i = 0; i < 200; ++i) text += "The capital of France is Paris. ";
  const std::string file = (tmp / "text.txt").string();
  std::ofstream(file) << text;

  Proc wide = run_fathom("perplexity " + model() + " -f " + file + " --chunks 1 -t 1");
  ASSERT_EQ(wide.status, 0) << wide.err;
  EXPECT_NE(wide.out.find("windows of 512;"), std::string::npos) << wide.out;
  Proc capped = run_fathom("perplexity " + short_ctx.string() + " -f " + file + " --chunks 1 -t 1");
  ASSERT_EQ(capped.status, 0) << capped.err;
  EXPECT_NE(capped.out.find("windows of 64;"), std::string::npos) << capped.out;
  expect_error(run_fathom("perplexity " + short_ctx.string() + " -f " + file + " -c 128"),
               "--ctx 128 exceeds the model's max_position_embeddings (64)");
}

// `make install` puts the binary in PREFIX/bin and the default model in
// PREFIX/share/fathom/models/default: the installed binary, run from elsewhere, finds that model.
TEST(CliInstall, InstalledBinaryFindsTheInstalledDefaultModel) {
  const std::string dir = model();
  const fs::path prefix = fs::path(test::scratch_dir("cli-install")) / "prefix";
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "share/fathom/models");
  fs::copy_file(FATHOM_BINARY, prefix / "bin/fathom");
  fs::copy(dir, prefix / "share/fathom/models/default", fs::copy_options::recursive);
  const fs::path out = prefix / "out.txt", err = prefix / "err.txt";
  const std::string cmd = "cd / && env -u FATHOM_MODEL " + (prefix / "bin/fathom").string() +
                          " run -p 'The capital of France is' -n 4 --temp 0 -t 1 > " + out.string() + " 2> " +
                          err.string();
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << slurp(err);
  // The same model named explicitly gives the same text.
  Proc named = run_fathom("run " + dir + " -p 'The capital of France is' -n 4 --temp 0 -t 1");
  ASSERT_EQ(named.status, 0) << named.err;
  EXPECT_EQ(slurp(out), named.out);
  EXPECT_FALSE(named.out.empty());
}

namespace {

// Overwrites element `index` of tensor `name` in a copy of a model with the bytes `value`.
void poke_tensor(const fs::path& dir, const std::string& name, size_t index, const std::string& value) {
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    uint64_t len = 0;
    f.read(reinterpret_cast<char*>(&len), 8);
    std::string header(len, '\0');
    f.read(header.data(), std::streamsize(len));
    const nlohmann::json h = nlohmann::json::parse(header);
    if (!h.contains(name)) continue;
    f.seekp(std::streamoff(8 + len + h[name]["data_offsets"][0].get<uint64_t>() + index * value.size()));
    f.write(value.data(), std::streamsize(value.size()));
    return;
  }
  FAIL() << "no tensor " << name;
}

}  // namespace

TEST(CliErrors, HostileFilesAndWeights) {
  const fs::path tmp = fs::path(test::scratch_dir("cli-hostile"));
  const std::string dir = model();
  // A prompt file that is a directory: the library's "basic_filebuf" text before.
  expect_error(run_fathom("run " + dir + " -f " + tmp.string()), tmp.string() + ": is a directory");

  // NaN in a bf16 weight, and a NaN fp8 scale: generation used to print nothing and exit 0.
  fs::copy(dir, tmp / "nan-bf16");
  poke_tensor(tmp / "nan-bf16", "model.norm.weight", 3, std::string("\xC0\x7F", 2));  // bf16 NaN
  expect_error(run_fathom("run " + (tmp / "nan-bf16").string() + " -p hi -n 4"), "are not finite");
  Proc check = run_fathom("info --check " + (tmp / "nan-bf16").string());
  EXPECT_EQ(check.status, 1);
  EXPECT_NE(check.out.find("model.norm.weight element 3 of BF16"), std::string::npos) << check.out;
  EXPECT_EQ(check.err, "") << "no progress bar when stderr is not a terminal";
  Proc clean = run_fathom("info --check " + dir);
  EXPECT_EQ(clean.status, 0) << clean.err;
  EXPECT_NE(clean.out.find("all finite"), std::string::npos) << clean.out;

  const std::string fp8 = model("tiny-v3", SynthDType::FP8);
  fs::copy(fp8, tmp / "nan-fp8");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  poke_tensor(tmp / "nan-fp8", "model.layers.0.self_attn.o_proj.weight_scale_inv", 0,
              std::string(reinterpret_cast<const char*>(&nan), 4));
  expect_error(run_fathom("run " + (tmp / "nan-fp8").string() + " -p hi -n 4"), "are not finite");
  check = run_fathom("info --check " + (tmp / "nan-fp8").string());
  EXPECT_EQ(check.status, 1);
  EXPECT_NE(check.out.find("o_proj.weight_scale_inv element 0"), std::string::npos) << check.out;
}

// `fathom info` names each tensor format with its count, and for F8_E4M3 the block scales, so a
// checkpoint saved as DeepSeek-V3 ships (F8_E4M3 Linears, F32 scales, BF16 rest) shows its mix.
TEST(CliInfo, ShowsTheTensorFormatsAndTheFp8BlockScales) {
  Proc fp8 = run_fathom("info " + model("tiny-v3", SynthDType::FP8));
  ASSERT_EQ(fp8.status, 0) << fp8.err;
  const size_t line = fp8.out.find("dtypes ");
  ASSERT_NE(line, std::string::npos) << fp8.out;
  const std::string dtypes = fp8.out.substr(line, fp8.out.find('\n', line) - line);
  EXPECT_NE(dtypes.find("BF16 "), std::string::npos) << dtypes;
  EXPECT_NE(dtypes.find("F32 "), std::string::npos) << dtypes;
  EXPECT_NE(dtypes.find("F8_E4M3 "), std::string::npos) << dtypes;
  EXPECT_NE(dtypes.find("block scales 128x128 in weight_scale_inv"), std::string::npos) << dtypes;
  Proc bf16 = run_fathom("info " + model());
  ASSERT_EQ(bf16.status, 0) << bf16.err;
  EXPECT_EQ(bf16.out.find("F8_E4M3"), std::string::npos) << bf16.out;
  EXPECT_NE(bf16.out.find("dtypes "), std::string::npos) << bf16.out;
}
