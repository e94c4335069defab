// Helpers for the tests that start `fathom` under `mpirun -np 2` on loopback (tests/mpi.cmake runs
// them only when mpirun is installed and fathom was built with MPI). CI runs as root and has fewer
// cores than ranks, so OpenMPI is told to allow both; shared-memory transport without the
// cross-memory-attach copy, which containers often forbid. Under ASan, OpenMPI's allocations kept
// until exit are not reported as leaks (lsan_openmpi.supp).
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "test_paths.h"

namespace fathom::test {

inline void set_mpi_env() {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
  setenv("OMPI_MCA_btl", "self,vader", 1);
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  const std::string supp = (source_dir() / "tests" / "mpi" / "lsan_openmpi.supp").string();
  setenv("LSAN_OPTIONS", ("suppressions=" + supp + ":fast_unwind_on_malloc=0").c_str(), 1);
}

// "mpirun -np N fathom" (N = 0: fathom alone).
inline std::string fathom_cmd(int ranks) {
  set_mpi_env();
  if (ranks == 0) return FATHOM_BINARY;
  return "mpirun -np " + std::to_string(ranks) + " " + FATHOM_BINARY;
}

// Runs a shell command with stdout and stderr into `log`; returns its exit status (-1: no exit).
inline int run_logged(const std::string& cmd, const std::string& log) {
  const int st = std::system((cmd + " > " + log + " 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace fathom::test
