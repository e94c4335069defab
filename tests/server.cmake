# End-to-end tests of `fathom serve` with the official `openai` npm client (tests/server/*.mjs,
# docs/SERVER.md). Each starts its own server on a free loopback port and kills it at the end.
# Registered always; skipped (77, tests/if_available.sh) when node or the openai package is missing.
if(TARGET fathom)
  set(_node_openai ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd node
                   --path ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/openai -- node)
  foreach(t chat errors load abuse one_engine structured)
    add_test(NAME server_e2e_${t}
             COMMAND ${_node_openai} ${CMAKE_SOURCE_DIR}/tests/server/${t}.mjs $<TARGET_FILE:fathom>
                     ${CMAKE_BINARY_DIR}/test-tmp/server_${t})
    set_tests_properties(server_e2e_${t} PROPERTIES TIMEOUT 120 LABELS "server" SKIP_RETURN_CODE 77)
  endforeach()
  # A 15-second version of the soak (docs/SERVER.md has the 10-minute one).
  add_test(NAME server_soak_short
           COMMAND ${_node_openai} ${CMAKE_SOURCE_DIR}/tests/server/soak.mjs $<TARGET_FILE:fathom>
                   ${CMAKE_BINARY_DIR}/test-tmp/server_soak --seconds 15 --clients 16)
  set_tests_properties(server_soak_short PROPERTIES TIMEOUT 180 LABELS "server" SKIP_RETURN_CODE 77)
endif()
