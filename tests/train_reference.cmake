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

# The same comparison with both trainers at --precision bf16 and fp8 (torch emulating E4M3 / BF16
# and the tile scaling from the paper: tests/reference/lowp_ref.py), 20 steps: step 1's loss and
# gradient norm within 1e-4, every step's losses within 1e-3 (relative). Routing and final weights
# are not compared: f32 and f64 activations round to the low-precision grid differently now and
# then, and AdamW's first steps amplify that (train_reference.py, docs/TRAINING.md).
if(TARGET fathom)
  foreach(precision bf16 fp8)
    add_test(NAME train_reference_torch_${precision}
             COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --python-module ${FATHOM_TORCH_PYTHON} torch --
                     ${FATHOM_TORCH_PYTHON} ${CMAKE_SOURCE_DIR}/tests/reference/train_reference.py
                     --fathom $<TARGET_FILE:fathom> --tmp ${CMAKE_BINARY_DIR}/test-tmp/train_reference_${precision}
                     --precision ${precision} --steps 20 --tol 1e-3)
    set_tests_properties(train_reference_torch_${precision} PROPERTIES LABELS "training;reference" TIMEOUT 600
                         SKIP_RETURN_CODE 77)
  endforeach()
endif()
