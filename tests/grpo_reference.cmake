# One GRPO step (advantages, clipped ratio, KL to a frozen reference) of fathom's trainer against an
# independent PyTorch implementation (tests/reference/grpo_reference.py) on the tiny DeepSeek-V3
# model of train_reference.py, with the same sampled sequences: the same loss, KL and clip count,
# and every tensor's gradient within relative L2 1e-5. Needs python3-torch; skipped (77) without.
set(FATHOM_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH "python3 with torch and numpy")
if(TARGET fathom_lib)
  add_executable(grpo_step_tool ${CMAKE_SOURCE_DIR}/tests/reference/grpo_step_tool.cpp)
  target_link_libraries(grpo_step_tool PRIVATE fathom_lib)
  add_test(NAME grpo_reference_torch
           COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --python-module ${FATHOM_TORCH_PYTHON} torch --
                   ${FATHOM_TORCH_PYTHON} ${CMAKE_SOURCE_DIR}/tests/reference/grpo_reference.py
                   --tool $<TARGET_FILE:grpo_step_tool> --tmp ${CMAKE_BINARY_DIR}/test-tmp/grpo_reference)
  set_tests_properties(grpo_reference_torch PROPERTIES LABELS "training;reference" TIMEOUT 300
                       SKIP_RETURN_CODE 77)
endif()
