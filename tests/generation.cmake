# Script tests of `fathom chat` and `fathom run` on a terminal (a pseudo-terminal from tmux or
# script). The pipe side and everything else of run/chat is in tests/generation_cli_test.cpp.
find_program(FATHOM_TMUX tmux)
if(FATHOM_TMUX AND TARGET fathom)
  add_test(NAME cli_chat_tty COMMAND ${CMAKE_SOURCE_DIR}/tests/cli_chat_tty.sh $<TARGET_FILE:fathom>
           ${CMAKE_BINARY_DIR}/test-tmp/cli_chat_tty)
  set_tests_properties(cli_chat_tty PROPERTIES TIMEOUT 300 LABELS "cli")
endif()
# `fathom run` on a terminal (`script` gives it a pseudo-terminal): the prompt is echoed.
find_program(FATHOM_SCRIPT script)
if(FATHOM_SCRIPT AND TARGET fathom)
  add_test(NAME cli_run_tty COMMAND ${CMAKE_SOURCE_DIR}/tests/cli_run_tty.sh $<TARGET_FILE:fathom>
           ${CMAKE_BINARY_DIR}/test-tmp/cli_run_tty)
  set_tests_properties(cli_run_tty PROPERTIES TIMEOUT 120 LABELS "cli")
endif()

# The synthesized tokenizer against Hugging Face's `tokenizers` (tests/npm, installed by
# scripts/install-deps.sh).
find_program(FATHOM_NODE node)
if(FATHOM_NODE AND TARGET fathom AND EXISTS ${CMAKE_SOURCE_DIR}/tests/npm/package.json)
  add_test(NAME synth_tokenizer_hf COMMAND ${CMAKE_SOURCE_DIR}/tests/synth_tokenizer_check.sh $<TARGET_FILE:fathom>
           ${CMAKE_BINARY_DIR}/test-tmp/synth_tokenizer_hf)
  set_tests_properties(synth_tokenizer_hf PROPERTIES TIMEOUT 120 LABELS "cli")
endif()
