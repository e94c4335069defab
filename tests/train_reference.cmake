# fathom train vs an independent PyTorch trainer (tests/reference/torch_train.py): a tiny
# DeepSeek-V3 model (MLA + YaRN, MoE with noaux_tc group routing, MTP) trained 300 steps from the
# same initial weights on the same data must give the same loss, MTP loss, balance loss, gradient
# norm and learning rate at every step (relative 1e-5; they agree to ~1e-7), the same tokens per
# expert in every MoE layer, and the same final weights. Needs python3-torch (Debian's PyTorch 1.13);
# registered always and skipped (exit 77) when it is missing.
set(FATHOM_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH "python3 with torch and numpy")
if(TARGET fathom)
  add_test(NAME train_reference_torch
           COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --python-module ${FATHOM_TORCH_PYTHON} torch --
                   ${FATHOM_TORCH_PYTHON} ${CMAKE_SOURCE_DIR}/tests/reference/train_reference.py
                   --fathom $<TARGET_FILE:fathom> --tmp ${CMAKE_BINARY_DIR}/test-tmp/train_reference)
  set_tests_properties(train_reference_torch PROPERTIES LABELS "training;reference" TIMEOUT 600
                       SKIP_RETURN_CODE 77)
endif()
