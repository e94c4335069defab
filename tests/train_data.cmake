# `fathom train-tokenizer` and `fathom prepare` against Hugging Face `tokenizers` (node; skipped,
# exit 77, when node or tests/npm is not installed). See tests/train_data/tokenizer_prepare.js.
if(TARGET fathom)
  add_test(NAME train_tokenizer_prepare
           COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd node --
                   node ${CMAKE_SOURCE_DIR}/tests/train_data/tokenizer_prepare.js
                   $<TARGET_FILE:fathom> ${CMAKE_BINARY_DIR}/test-tmp/train_tokenizer_prepare)
  set_tests_properties(train_tokenizer_prepare PROPERTIES LABELS "training;tokenizer" TIMEOUT 600
                       SKIP_RETURN_CODE 77)
endif()

# The reasoner's SFT data (scripts/arith_sft_data.py): every worked-solution line recomputed.
add_test(NAME arith_sft_data_check
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/train_data/arith_sft_data_check.py
                 ${CMAKE_SOURCE_DIR}/scripts/arith_sft_data.py)
set_tests_properties(arith_sft_data_check PROPERTIES LABELS training TIMEOUT 120)

# scripts/plot-training.py (the PNGs in docs/TRAINING.md): both kinds of plot from synthetic logs,
# bad logs refused. Needs matplotlib for the system python; skipped (77) without.
add_test(NAME plot_training_check
         COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --python-module /usr/bin/python3 matplotlib --
                 /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/train_data/plot_training_check.py
                 ${CMAKE_SOURCE_DIR}/scripts/plot-training.py ${CMAKE_BINARY_DIR}/test-tmp/plot_training)
set_tests_properties(plot_training_check PROPERTIES LABELS training TIMEOUT 120 SKIP_RETURN_CODE 77)

# scripts/compare-eval.py (the paired SFT / GRPO comparison in docs/TRAINING.md): counts and the
# exact McNemar p-value against hand-made cases.
add_test(NAME compare_eval_check
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/train_data/compare_eval_check.py
                 ${CMAKE_SOURCE_DIR}/scripts/compare-eval.py ${CMAKE_BINARY_DIR}/test-tmp/compare_eval)
set_tests_properties(compare_eval_check PROPERTIES LABELS training TIMEOUT 60)
