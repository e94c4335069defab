# The chat page (src/server/web/: docs/SERVER.md) compiled into fathom_lib: cmake/embed_files.cmake
# turns the files into byte arrays whenever one of them changes.
file(GLOB _web_files CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}/src/server/web
     ${CMAKE_SOURCE_DIR}/src/server/web/*.html ${CMAKE_SOURCE_DIR}/src/server/web/*.css
     ${CMAKE_SOURCE_DIR}/src/server/web/*.js ${CMAKE_SOURCE_DIR}/src/server/web/*.svg)
list(SORT _web_files)
list(TRANSFORM _web_files PREPEND ${CMAKE_SOURCE_DIR}/src/server/web/ OUTPUT_VARIABLE _web_paths)
set(_web_cpp ${CMAKE_BINARY_DIR}/generated/web_assets.cpp)
add_custom_command(
  OUTPUT ${_web_cpp}
  COMMAND ${CMAKE_COMMAND} -DDIR=${CMAKE_SOURCE_DIR}/src/server/web "-DFILES=${_web_files}" -DOUT=${_web_cpp}
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
  DEPENDS ${_web_paths} ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
  COMMENT "Embedding the chat page (src/server/web)"
  VERBATIM)
target_sources(fathom_lib PRIVATE ${_web_cpp})
