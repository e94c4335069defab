# The chat page (src/server/web/, docs/SERVER.md) in headless Chromium driven by puppeteer-core,
# against real `fathom serve` processes (tests/browser/chat_page.mjs). Registered always; skipped (77,
# tests/if_available.sh) when node, chromium or puppeteer-core is missing. `make test-browser` runs
# it alone; `make test` runs it with the rest (label browser).
if(TARGET fathom)
  add_test(NAME browser_chat_page
           COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd node --cmd chromium
                   --path ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/puppeteer-core --
                   node ${CMAKE_SOURCE_DIR}/tests/browser/chat_page.mjs $<TARGET_FILE:fathom>
                   ${CMAKE_BINARY_DIR}/test-tmp/browser)
  set_tests_properties(browser_chat_page PROPERTIES TIMEOUT 300 LABELS "server;browser" SKIP_RETURN_CODE 77)
endif()

# The page's committed third-party bundle (src/server/web/vendor.*) is what scripts/bundle-web.mjs
# makes from the npm packages pinned in tests/npm/package.json.
add_test(NAME web_vendor_current
         COMMAND ${CMAKE_SOURCE_DIR}/tests/if_available.sh --cmd node
                 --path ${CMAKE_SOURCE_DIR}/tests/npm/node_modules/markdown-it --
                 node ${CMAKE_SOURCE_DIR}/scripts/bundle-web.mjs --check)
set_tests_properties(web_vendor_current PROPERTIES TIMEOUT 60 LABELS "server" SKIP_RETURN_CODE 77)
