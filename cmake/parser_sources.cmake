# The code that reads untrusted input: model files (safetensors, index, config.json), tokenizers,
# chat templates and HTTP request bodies, with what a request's response_format / tool_choice
# compiles. One list, used three ways: it is part of fathom_lib; the libFuzzer build (fuzz/)
# compiles exactly it; and the main build links the fuzz targets against it alone with a replay
# driver (fuzz/replay_main.cpp), so a parser that starts to need code outside the list fails CI's
# build instead of the next `make fuzz`.
file(GLOB FATHOM_PARSER_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/src/core/*.cpp ${PROJECT_SOURCE_DIR}/src/io/*.cpp
     ${PROJECT_SOURCE_DIR}/src/tokenizer/*.cpp ${PROJECT_SOURCE_DIR}/src/chat/*.cpp
     ${PROJECT_SOURCE_DIR}/src/generation/json_schema*.cpp)
list(APPEND FATHOM_PARSER_SOURCES ${PROJECT_SOURCE_DIR}/src/model/config.cpp
     ${PROJECT_SOURCE_DIR}/src/server/openai_request.cpp ${PROJECT_SOURCE_DIR}/src/server/tool_calls.cpp)
