# Structured outputs (src/generation/json_schema*): random schemas of the supported subset, outputs
# sampled under each with the token mask over models/default's vocabulary, each validated by ajv
# (tests/structured/random_schemas.mjs): 700 schemas x 3 seeds, every output valid. Under the
# sanitizers, which slow the sampler several times over, 150 x 2. Registered always; skipped (77)
# without node or ajv.
add_executable(fathom_json_schema_sample ${CMAKE_SOURCE_DIR}/tests/structured/json_schema_sample.cpp)
target_link_libraries(fathom_json_schema_sample PRIVATE fathom_lib)
add_dependencies(fathom_tests fathom_json_schema_sample)
set(_structured_cases --schemas 700 --seeds 3)
if(FATHOM_SANITIZE)
  set(_structured_cases --schemas 150 --seeds 2)
endif()
add_test(NAME structured_random_schemas
         COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd node
                 --path ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/ajv --
                 node ${CMAKE_SOURCE_DIR}/tests/structured/random_schemas.mjs
                 $<TARGET_FILE:fathom_json_schema_sample> ${CMAKE_SOURCE_DIR}/models/default
                 ${CMAKE_BINARY_DIR}/test-tmp/structured ${_structured_cases})
set_tests_properties(structured_random_schemas PROPERTIES TIMEOUT 300 LABELS "generation" SKIP_RETURN_CODE 77)
