// Expert-parallel inference under `mpirun -np 2` against one process, on synthesized tiny models
// with MTP and noaux_tc routing (tiny-v3, and its Q4_0 quantization, whose kernels quantize
// activations per row): logits of a prefill, of token-by-token decoding and of the MTP module
// within relative L2 1e-5, and greedy generation token for token the same. The dispatch path on
// one rank (--expert-parallel without mpirun) is checked too, so a failure tells the exchange
// between ranks from the path itself.
#include <gtest/gtest.h>

#include <filesystem>
#include <fmt/format.h>

#include "io/npy.h"
#include "model/synth.h"
#include "mpi_util.h"
#include "test_util.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;

const char* kIds = "1,5,7,9,11,3,2,8,13,4,6,10";

std::string quantized(const std::string& model, const std::string& type) {
  const std::string out = model + "-" + type;
  if (!fs::exists(out + "/config.json")) {
    const std::string tmp = out + ".tmp" + std::to_string(::getpid());
    const std::string cmd = fmt::format("{} quantize {} {} --type {}", FATHOM_BINARY, model, tmp, type);
    EXPECT_EQ(test::run_logged(cmd, tmp + ".log"), 0) << test::read_all(tmp + ".log");
    std::error_code ec;
    fs::rename(tmp, out, ec);
    if (ec) fs::remove_all(tmp);
  }
  return out;
}

// Writes DIR/NAME.npy (and NAME_mtp.npy) with `ranks` ranks (0: one process without mpirun).
void logits(const std::string& model, const std::string& dir, const std::string& name, int ranks,
            const std::string& extra) {
  const std::string log = dir + "/" + name + ".log";
  const std::string cmd = fmt::format("{} logits {} --ids {} --out {}/{}.npy --mtp-out {}/{}_mtp.npy -t 1{}",
                                      test::fathom_cmd(ranks), model, kIds, dir, name, dir, name, extra);
  ASSERT_EQ(test::run_logged(cmd, log), 0) << test::read_all(log);
}

void expect_close(const std::string& got, const std::string& want) {
  const io::NpyArray a = io::read_npy_f32(got), b = io::read_npy_f32(want);
  ASSERT_EQ(a.shape, b.shape) << got;
  EXPECT_LT(test::rel_l2(a.data, b.data), 1e-5) << got << " vs " << want;
}

class MpiExpertParallel : public ::testing::TestWithParam<const char*> {
 protected:
  std::string model() {
    const std::string m = test::synth_model("tiny-v3", SynthDType::F32);
    return std::string(GetParam()) == "f32" ? m : quantized(m, GetParam());
  }
};

TEST_P(MpiExpertParallel, LogitsMatchOneProcess) {
  const std::string m = model(), dir = test::scratch_dir(fmt::format("mpi/ep_logits_{}", GetParam()));
  for (const char* mode : {"prefill", "decode"}) {
    SCOPED_TRACE(mode);
    const std::string extra = fmt::format(" --mode {}", mode);
    logits(m, dir, fmt::format("one_{}", mode), 0, extra);
    logits(m, dir, fmt::format("ep1_{}", mode), 0, extra + " --expert-parallel");
    logits(m, dir, fmt::format("ep2_{}", mode), 2, extra);
    for (const char* run : {"ep1", "ep2"})
      for (const char* suffix : {"", "_mtp"})
        expect_close(fmt::format("{}/{}_{}{}.npy", dir, run, mode, suffix),
                     fmt::format("{}/one_{}{}.npy", dir, mode, suffix));
  }
}

TEST_P(MpiExpertParallel, GreedyGenerationMatchesOneProcess) {
  const std::string m = model(), dir = test::scratch_dir(fmt::format("mpi/ep_run_{}", GetParam()));
  // Each rank's stdout into its own file: OpenMPI gives ranks a pseudo-terminal otherwise, and
  // `fathom run` formats for terminals.
  auto run = [&](int ranks, const std::string& name) {
    const std::string args = fmt::format(" run {} -p \"the quick brown fox\" --temp 0 -n 40 --ignore-eos -t 1", m);
    const std::string cmd = ranks == 0 ? test::fathom_cmd(0) + args + " > " + dir + "/" + name + ".0"
                                       : fmt::format("mpirun -np {} sh -c 'exec {}{} > {}/{}.$OMPI_COMM_WORLD_RANK'",
                                                     ranks, test::fathom_cmd(0), args, dir, name);
    const std::string log = dir + "/" + name + ".log";
    EXPECT_EQ(test::run_logged("(" + cmd + ")", log), 0) << test::read_all(log);
    return test::read_all(dir + "/" + name + ".0");
  };
  const std::string one = run(0, "one"), two = run(2, "two");
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(two, one);
  EXPECT_EQ(test::read_all(dir + "/two.1"), "") << "rank 1 wrote to stdout";
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MpiExpertParallel, ::testing::Values("f32", "q4_0"));

}  // namespace
}  // namespace fathom
