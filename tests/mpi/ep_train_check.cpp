// Expert-parallel training (`train --expert-parallel`, docs/DISTRIBUTED.md) against one process with
// the same global batch, on the tiny config of train_util.h (MTP, noaux_tc routing with groups, a
// shared expert, a dense layer; 8 routed experts, 4 per rank at 2 ranks):
//   - under `mpirun -np 2` (data plus expert parallel: each rank its half of the batch and half of
//     the experts, tokens exchanged with MPI_Alltoallv forward and backward), every step's losses,
//     gradient norm and validation loss within relative 1e-5, the same expert loads, and the final
//     parameters and AdamW moments (gathered whole into the checkpoint) within relative L2 1e-5;
//   - on one process, the same exchange path over a single rank, likewise;
//   - a run stopped at step 2 under one arrangement and resumed under the other (expert parallel on
//     2 ranks -> one plain process, and back) ends where the uninterrupted run does.
#include <fmt/format.h>

#include "train_runs.h"

namespace fathom::train {
namespace {

const std::string kEp = " --expert-parallel";

// `ranks` ranks (0: no mpirun) with --expert-parallel against one plain process.
void expect_matches_one_process(const std::string& name, int ranks) {
  const RunDirs s = make_setup(name);
  train(s, 0, s.root + "/plain");
  train(s, ranks, s.root + "/ep", kEp);
  expect_same_log(s.root + "/ep", s.root + "/plain");
  expect_same_state(s.root + "/ep", s.root + "/plain");
}

TEST(MpiExpertParallelTraining, TwoRanksMatchOneProcess) { expect_matches_one_process("ep_train_match", 2); }

TEST(MpiExpertParallelTraining, OneRankMatchesOneProcess) { expect_matches_one_process("ep_train_one", 0); }

TEST(MpiExpertParallelTraining, ResumesAcrossExpertParallelism) {
  const RunDirs s = make_setup("ep_train_resume");
  train(s, 0, s.root + "/ref");
  struct Leg {
    int ranks;
    std::string flags;
  };
  for (const auto& [first, second] : {std::pair{Leg{2, kEp}, Leg{0, ""}}, std::pair{Leg{0, ""}, Leg{2, kEp}}}) {
    SCOPED_TRACE(fmt::format("{} ranks{}, then {} ranks{}", first.ranks, first.flags, second.ranks, second.flags));
    const std::string out = fmt::format("{}/resumed_{}_{}", s.root, first.ranks, second.ranks);
    train(s, first.ranks, out, first.flags + " --stop-after 2");
    ASSERT_EQ(read_log(out).back()["step"], 2);
    const std::string log = out + ".resume.log";
    ASSERT_EQ(::fathom::test::run_logged(::fathom::test::fathom_cmd(second.ranks) + " train --out " + out +
                                             " --resume --threads 1" + second.flags,
                                         log),
              0)
        << ::fathom::test::read_all(log);
    expect_same_log(out, s.root + "/ref");
    expect_same_state(out, s.root + "/ref");
  }
}

}  // namespace
}  // namespace fathom::train
