# End-to-end tests of `fathom serve` with the official `openai` npm client (tests/server/*.mjs,
# docs/SERVER.md). Each starts its own server on a free loopback port and kills it at the end.
# Registered always; skipped (77, tests/if_available.sh) when node or the openai package is missing.
if(TARGET fathom)
  foreach(t chat errors load)
    add_test(NAME server_e2e_${t}
             COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd node
                     --path ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/openai --
                     node ${CMAKE_SOURCE_DIR}/tests/server/${t}.mjs $<TARGET_FILE:fathom>
                     ${CMAKE_BINARY_DIR}/test-tmp/server_${t})
    set_tests_properties(server_e2e_${t} PROPERTIES TIMEOUT 120 LABELS "server" SKIP_RETURN_CODE 77)
  endforeach()
endif()
