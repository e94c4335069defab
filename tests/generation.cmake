# Script tests of `fathom chat` and `fathom run` on a terminal (a pseudo-terminal from tmux or
# script). The pipe side and everything else of run/chat is in tests/generation_cli_test.cpp.
# Registered always; skipped (77, tests/if_available.sh) when tmux, script, node or tests/npm's
# packages are missing.
set(FATHOM_IF_AVAILABLE ${CMAKE_SOURCE_DIR}/tests/if_available.sh)
if(TARGET fathom)
  add_test(NAME cli_chat_tty COMMAND ${FATHOM_IF_AVAILABLE} --cmd tmux --
           ${CMAKE_SOURCE_DIR}/tests/cli_chat_tty.sh $<TARGET_FILE:fathom> ${CMAKE_BINARY_DIR}/test-tmp/cli_chat_tty)
  set_tests_properties(cli_chat_tty PROPERTIES TIMEOUT 300 LABELS "cli" SKIP_RETURN_CODE 77)
  # `fathom run` on a terminal (`script` gives it a pseudo-terminal): the prompt is echoed.
  add_test(NAME cli_run_tty COMMAND ${FATHOM_IF_AVAILABLE} --cmd script --
           ${CMAKE_SOURCE_DIR}/tests/cli_run_tty.sh $<TARGET_FILE:fathom> ${CMAKE_BINARY_DIR}/test-tmp/cli_run_tty)
  set_tests_properties(cli_run_tty PROPERTIES TIMEOUT 120 LABELS "cli" SKIP_RETURN_CODE 77)

  # The synthesized tokenizer against Hugging Face's `tokenizers` (tests/npm, installed by
  # scripts/install-deps.sh).
  add_test(NAME synth_tokenizer_hf
           COMMAND ${FATHOM_IF_AVAILABLE} --cmd node --path ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/tokenizers --
                   ${CMAKE_SOURCE_DIR}/tests/synth_tokenizer_check.sh $<TARGET_FILE:fathom>
                   ${CMAKE_BINARY_DIR}/test-tmp/synth_tokenizer_hf)
  set_tests_properties(synth_tokenizer_hf PROPERTIES TIMEOUT 120 LABELS "cli" SKIP_RETURN_CODE 77)
endif()
