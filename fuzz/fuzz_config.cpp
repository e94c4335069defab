// Fuzz target: config.json read and parsed into ModelConfig, as loading a model does; a config that
// passes validation must also serialise. A hostile file must end in fathom::Error.
#include "core/error.h"
#include "fuzz_util.h"
#include "io/checkpoint.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fathom::fuzz::write_file("config.json", fathom::fuzz::as_text(data, size));
  try {
    const nlohmann::json j = fathom::io::read_json_file(path);
    const fathom::ModelConfig config = fathom::ModelConfig::from_json(j, path);
    (void)config.to_json().dump();
  } catch (const fathom::Error&) {
  }
  return 0;
}
