#include "dist/launcher.h"

#include <cstdlib>
#include <initializer_list>

namespace fathom::dist {

int launcher_world_size() {
  // OpenMPI's mpirun, then PMIx and PMI launchers (MPICH's hydra, Slurm's srun).
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(var)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  return 1;
}

}  // namespace fathom::dist
