// Fuzz target: a .safetensors file (8-byte header length, JSON header, data) opened and validated,
// then every tensor's bytes read, as loading a model does. A hostile file must end in fathom::Error.
#include "core/error.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fathom::fuzz::write_file("model.safetensors", fathom::fuzz::as_text(data, size));
  try {
    fathom::io::SafetensorsFile file(path);
    volatile uint8_t sink = 0;
    for (const auto& [name, t] : file.tensors())
      if (t.nbytes > 0) sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];  // inside the mapping
  } catch (const fathom::Error&) {
  }
  return 0;
}
