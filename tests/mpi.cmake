# Distributed runs (docs/DISTRIBUTED.md): fathom under `mpirun -np 2` on loopback against one
# process. Registered always; skipped (77) when mpirun is missing or fathom was configured without
# MPI (a build without MPI refuses to run as one of several ranks).
if(TARGET fathom)
  file(GLOB FATHOM_MPI_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/mpi/*_check.cpp)
  add_executable(fathom_mpi_tests ${FATHOM_MPI_TEST_SOURCES})
  target_include_directories(fathom_mpi_tests PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(fathom_mpi_tests PRIVATE fathom_lib GTest::gtest GTest::gtest_main)
  add_dependencies(fathom_tests fathom_mpi_tests)
  if(MPI_C_FOUND)
    set(FATHOM_MPI_RUN ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd mpirun -- $<TARGET_FILE:fathom_mpi_tests>)
  else()
    set(FATHOM_MPI_RUN sh -c "echo 'SKIPPED: fathom was configured without MPI (make deps installs it)'; exit 77" --)
  endif()
  foreach(t TwoRanksMatchOneProcess ResumesWithAnotherRankCount KilledRankEndsTheRun)
    add_test(NAME mpi_dp_${t} COMMAND ${FATHOM_MPI_RUN} --gtest_filter=MpiDataParallel.${t})
    set_tests_properties(mpi_dp_${t} PROPERTIES LABELS "mpi;training" TIMEOUT 120 SKIP_RETURN_CODE 77)
  endforeach()
endif()
