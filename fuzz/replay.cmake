# The libFuzzer targets of fuzz/ in the main build (g++, no libFuzzer): each fuzz_X.cpp with
# replay_main.cpp as fuzz_X_replay, linked against the parser objects alone, and a test that
# replays its committed seeds (fuzz/corpus/X). The fuzzing itself is `make fuzz` (docs/HARDENING.md).
file(GLOB _fathom_fuzz_target_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/fuzz_*.cpp)
foreach(src ${_fathom_fuzz_target_sources})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name}_replay ${src} ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
  target_link_libraries(${name}_replay PRIVATE fathom_parsers)
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  add_test(NAME fuzz_replay_${short} COMMAND ${name}_replay ${PROJECT_SOURCE_DIR}/fuzz/corpus/${name})
  # The targets write their inputs as files under $TMPDIR (fuzz/fuzz_util.h).
  set_tests_properties(fuzz_replay_${short} PROPERTIES LABELS fuzz TIMEOUT 120
                       ENVIRONMENT "TMPDIR=${CMAKE_BINARY_DIR}/test-tmp")
endforeach()
