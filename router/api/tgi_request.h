// The TGI request body read into what the client sent (RawTgiRequest): JSON types checked and
// unknown keys refused, nothing defaulted (validation.h decides the rest). Used by /generate,
// /generate_stream, POST /, /invocations and text-gen-batch lines.
#pragma once

#include "router/api/json_fields.h"
#include "router/api/raw_request.h"

namespace tg::api {

// {"inputs": "...", "parameters": {...}, "stream": bool}; throws kInvalidArgument (422).
RawTgiRequest ParseTgiRequest(const Json& body);

// The "parameters" object alone.
RawParameters ParseTgiParameters(const Json& parameters);

}  // namespace tg::api
