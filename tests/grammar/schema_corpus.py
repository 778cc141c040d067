"""Seeded corpus of JSON Schemas for the structured-output validity suite: hand-written real-world
schemas first, then generated ones. Every schema bounds its answer's size (strings have maxLength or
a bounded pattern/format, arrays have maxItems, numbers have bounds, nesting is shallow), so a
model that follows the grammar can finish well inside the suite's max_tokens; an answer cut by
max_tokens is then a finding, not noise."""
import copy
import random

# Real schemas, written by hand in the style of published examples (OpenAI's structured-output
# guide: calendar event, math reasoning; a GitHub issue; a tool's arguments).
REAL_SCHEMAS = [
    ("calendar_event", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 30},
            "date": {"type": "string", "format": "date"},
            "participants": {"type": "array", "items": {"type": "string", "maxLength": 15},
                             "maxItems": 3},
        },
        "required": ["name", "date", "participants"],
        "additionalProperties": False,
    }),
    ("math_reasoning", {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"explanation": {"type": "string", "maxLength": 30},
                                   "output": {"type": "string", "maxLength": 12}},
                    "required": ["explanation", "output"],
                    "additionalProperties": False,
                },
                "minItems": 1, "maxItems": 2,
            },
            "final_answer": {"type": "string", "maxLength": 12},
        },
        "required": ["steps", "final_answer"],
        "additionalProperties": False,
    }),
    ("github_issue", {
        "$defs": {
            "user": {"type": "object",
                     "properties": {"login": {"type": "string",
                                              "pattern": "^[a-z][a-z0-9-]{0,11}$"},
                                    "id": {"type": "integer", "minimum": 1, "maximum": 99999999}},
                     "required": ["login", "id"], "additionalProperties": False},
        },
        "type": "object",
        "properties": {
            "number": {"type": "integer", "minimum": 1, "maximum": 100000},
            "title": {"type": "string", "minLength": 1, "maxLength": 40},
            "state": {"enum": ["open", "closed"]},
            "user": {"$ref": "#/$defs/user"},
            "labels": {"type": "array", "maxItems": 3,
                       "items": {"enum": ["bug", "enhancement", "question", "documentation"]}},
            "assignee": {"anyOf": [{"$ref": "#/$defs/user"}, {"type": "null"}]},
            "locked": {"type": "boolean"},
        },
        "required": ["number", "title", "state", "user", "labels", "assignee", "locked"],
        "additionalProperties": False,
    }),
    ("weather_tool_arguments", {
        "type": "object",
        "properties": {"location": {"type": "string", "maxLength": 25},
                       "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["location", "unit"],
        "additionalProperties": False,
    }),
    ("ui_component", {  # recursion bounded by depth: a component with up to 2 children, no deeper
        "$defs": {
            "leaf": {"type": "object",
                     "properties": {"type": {"enum": ["div", "button", "field"]},
                                    "label": {"type": "string", "maxLength": 12}},
                     "required": ["type", "label"], "additionalProperties": False},
        },
        "type": "object",
        "properties": {"type": {"const": "form"},
                       "children": {"type": "array", "items": {"$ref": "#/$defs/leaf"},
                                    "minItems": 1, "maxItems": 2}},
        "required": ["type", "children"],
        "additionalProperties": False,
    }),
    ("moderation", {
        "type": "object",
        "properties": {"is_violating": {"type": "boolean"},
                       "category": {"anyOf": [{"enum": ["violence", "sexual", "self_harm"]},
                                              {"type": "null"}]},
                       "explanation": {"anyOf": [{"type": "string", "maxLength": 30},
                                                 {"type": "null"}]}},
        "required": ["is_violating", "category", "explanation"],
        "additionalProperties": False,
    }),
]

WORDS = ["id", "name", "age", "city", "code", "score", "tags", "kind", "price", "count", "flag",
         "title", "color", "level", "note", "owner", "size", "unit", "rank", "label"]
STRING_ENUM = ["red", "green", "blue", "small", "large", "alpha", "beta", "yes", "no", "north"]
FORMATS = ["date", "uuid", "ipv4"]  # formats whose answers have a bounded length
PATTERNS = [r"^[a-z]{2,6}$", r"^[A-Z]{3}-[0-9]{3}$", r"^[0-9]{5}$", r"^(on|off)$",
            r"^#[0-9a-f]{6}$", r"^v[0-9]\.[0-9]{1,2}$"]


class SchemaGenerator:
    """Random JSON Schemas from one seed. Each feature family the issue names appears with
    roughly even frequency; depth stays at most 2 so answers stay short."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def string(self):
        r = self.rng
        kind = r.choice(["length", "length", "pattern", "format"])
        if kind == "pattern":
            return {"type": "string", "pattern": r.choice(PATTERNS)}
        if kind == "format":
            return {"type": "string", "format": r.choice(FORMATS)}
        hi = r.randint(1, 12)
        out = {"type": "string", "maxLength": hi}
        if r.random() < 0.5:
            out["minLength"] = r.randint(0, hi)
        return out

    def integer(self):
        lo = self.rng.randint(-1000, 1000)
        return {"type": "integer", "minimum": lo, "maximum": lo + self.rng.randint(0, 5000)}

    def number(self):
        lo = self.rng.choice([-100, -1.5, 0, 0.5, 10])
        out = {"type": "number", "minimum": lo, "maximum": lo + self.rng.choice([1, 50, 1000])}
        if self.rng.random() < 0.3:  # exclusive bounds as well
            out = {"type": "number", "exclusiveMinimum": lo,
                   "exclusiveMaximum": lo + self.rng.choice([1, 50, 1000])}
        return out

    def scalar(self):
        r = self.rng
        kind = r.choice(["string", "integer", "number", "boolean", "null", "enum", "const"])
        if kind == "string":
            return self.string()
        if kind == "integer":
            return self.integer()
        if kind == "number":
            return self.number()
        if kind == "enum":
            pool = STRING_ENUM if r.random() < 0.7 else [0, 1, 2, 3, 42, -7, 100]
            return {"enum": r.sample(pool, r.randint(1, 4))}
        if kind == "const":
            return {"const": r.choice(["fixed", 7, True, "v1"])}
        return {"type": kind}

    def value(self, depth):
        r = self.rng
        roll = r.random()
        if depth < 2 and roll < 0.15:
            return self.obj(depth + 1)
        if depth < 2 and roll < 0.3:
            return self.array(depth + 1)
        if roll < 0.4:
            return {"anyOf": [self.scalar(), self.scalar()]}
        return self.scalar()

    def array(self, depth):
        lo = self.rng.randint(0, 2)
        items = self.scalar() if depth >= 2 or self.rng.random() < 0.7 else self.obj(depth + 1)
        return {"type": "array", "items": items, "minItems": lo,
                "maxItems": lo + self.rng.randint(0, 2)}

    def obj(self, depth):
        r = self.rng
        names = r.sample(WORDS, r.randint(1, 4 if depth <= 1 else 2))
        props = {name: self.value(depth) for name in names}
        out = {"type": "object", "properties": props}
        required = [n for n in names if r.random() < 0.75]
        if required:
            out["required"] = required
        if r.random() < 0.6:
            out["additionalProperties"] = False
        return out

    def with_refs(self, schema):
        """Moves one object-valued or scalar property into $defs and refers to it (twice when
        another property can share it)."""
        props = schema["properties"]
        name = self.rng.choice(sorted(props))
        schema = copy.deepcopy(schema)
        schema["$defs"] = {"shared": schema["properties"][name]}
        schema["properties"][name] = {"$ref": "#/$defs/shared"}
        if self.rng.random() < 0.5:
            schema["properties"]["other"] = {"$ref": "#/$defs/shared"}
        return schema

    def schema(self):
        out = self.obj(0)
        if self.rng.random() < 0.2:
            out = self.with_refs(out)
        return out


def schema_corpus(count, seed=2024):
    """The first `count` schemas: the real ones, then generated ones, as (name, schema) pairs."""
    out = list(REAL_SCHEMAS[:count])
    gen = SchemaGenerator(seed)
    while len(out) < count:
        out.append(("generated_%d" % len(out), gen.schema()))
    return out
