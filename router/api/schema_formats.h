// String formats of a JSON Schema that the grammar engine gets wrong, rewritten before it sees
// them. xgrammar 0.2.9's `ipv4` octet is `(25[0-5]|2[0-4]\d|[0-1]?\d?\d)`, which accepts `000` and
// `010`: answers that JSON Schema's own test suite and Python's `jsonschema` reject (the validity
// suite, tests/grammar/test_validity.py, found six). Such a format becomes the equivalent
// strict `pattern`; a format beside an explicit `pattern` is kept (the pattern already constrains).
#pragma once

#include "router/api/json_fields.h"

namespace tg::api {

// Rewrites, in place, every subschema's `format` listed above.
void RewriteEngineFormats(Json& schema);

}  // namespace tg::api
