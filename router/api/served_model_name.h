// The model name the API shows (/v1/models, every response's `model`) when
// --served-model-name is not given. Like TGI and vLLM it is a name, never a filesystem path:
//   - a hub id (`org/name`, no such local path): the id itself;
//   - a local directory: its name (`models/SmolLM2-135M-Instruct/` -> `SmolLM2-135M-Instruct`),
//     and for an HF cache snapshot (`models--org--name/snapshots/<rev>`) the hub id `org/name`;
//   - a local file (a `.gguf`): its stem (`.../SmolLM2-135M-Instruct.Q4_1.gguf` ->
//     `SmolLM2-135M-Instruct.Q4_1`);
//   - nothing given: `tgi`.
#pragma once

#include <string>

namespace tg::api {

std::string DefaultServedModelName(const std::string& model_id);

}  // namespace tg::api
