// What the launcher (mpirun, or a PMI-based one such as srun) tells a process through its
// environment, read without MPI: whether it is one rank of several. Shared by both builds of
// comm.h: the MPI one starts MPI only then, the one without MPI refuses to run as one of several.
#pragma once

namespace fathom::dist {

// The run's rank count the launcher announced, or 1 when the process was started directly.
int launcher_world_size();

}  // namespace fathom::dist
