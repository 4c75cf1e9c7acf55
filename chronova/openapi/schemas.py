"""marshmallow schemas as JSON schemas: request bodies described from what the apps validate with."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from chronova import web

JsonSchema = dict[str, Any]
_MAX_INT = 2**31 - 1
_ANY_OBJECT: JsonSchema = {"type": "object"}

# --- marshmallow -> JSON schema ----------------------------------------------------------

_WORDS = sorted(web.TRUE_WORDS | web.FALSE_WORDS)
# Printable without surrounding blanks; ASCII only, the part of "printable" a generator reliably hits.
_NAME_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
_BASE64 = r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_HOST = r"^[a-zA-Z0-9-._]{1,255}$"
_METADATA_VALUE: JsonSchema = {"type": "string", "maxLength": 255}


def _uuid() -> JsonSchema:
    return {"type": "string", "format": "uuid"}


def _digit_integer(f: fields.Field) -> JsonSchema:
    signed = getattr(f, "_pattern", None) is not None and f._pattern.pattern.startswith("^-")
    digits = r"-?[0-9]{1,10}" if signed else r"[0-9]{1,10}"
    if getattr(f, "_empty_as", None) is not None:
        digits = f"({digits})?"
    return {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": f"^{digits}$"}]}


def _reference(f: fields.Field) -> JsonSchema:
    text: JsonSchema = {"type": "string", "minLength": 1, "maxLength": 255}
    if getattr(f, "_pattern", None) is not None:
        text["pattern"] = f._pattern.pattern
    return {"anyOf": [text, {"type": "integer", "minimum": 0}]}


def _pattern_string(f: fields.Field) -> JsonSchema:
    return {"type": "string", "minLength": 1, "maxLength": 255, "pattern": f._pattern.pattern}


def _json_value(f: fields.Field) -> JsonSchema:
    """Glance's typed attribute (chronova/images/schemas.py): one JSON type, maybe a length, a choice, a pattern."""
    described: JsonSchema = {"type": {str: "string", int: "integer", bool: "boolean", list: "array"}[f._kind]}
    if f._max_length is not None:
        described["maxLength"] = f._max_length
    if f._choices is not None:
        described["enum"] = list(f._choices)
    if f._pattern is not None:
        described["pattern"] = f._pattern.pattern
    if f._items is not None:
        described["items"] = field_schema(f._items)
    return described


def _dict(f: fields.Dict) -> JsonSchema:
    values = field_schema(f.value_field) if f.value_field is not None else {}
    return {"type": "object", "additionalProperties": values or True}


# The custom fields, by "module.QualName" so that describing a field never imports the
# module that defines it: the document is built lazily, when it is first asked for.
_CUSTOM: dict[str, Callable[[Any], JsonSchema]] = {
    "command_api.fields.DigitInteger": _digit_integer,
    "command_api.fields.PositiveNumber": lambda f: {
        "anyOf": [
            {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 3.40282e38},
            {"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,6})?$"},
        ]
    },
    "command_api.fields.WordBoolean": lambda f: {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": _WORDS}]},
    "command_api.fields.Name": lambda f: {"type": "string", "minLength": 1, "maxLength": 255, "pattern": _NAME_PATTERN},
    "command_api.fields.Reference": _reference,
    "command_api.move_actions._StrictBoolean": lambda f: (
        {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["auto"]}]}
        if f.metadata.get("auto")
        else {"type": "boolean"}
    ),
    "command_api.fields.ImageRef": lambda f: {
        "anyOf": [_uuid(), {"type": "string", "enum": [""]}, {"type": "string", "format": "uri"}]
    },
    "command_api.fields.Base64Text": lambda f: {"type": "string", "pattern": _BASE64},
    "command_api.fields.Networks": lambda f: {
        "anyOf": [{"type": "string", "enum": ["none", "auto"]}, {"type": "array", "items": schema_of(f._items)}]
    },
    "command_api.fields.Tag": lambda f: {
        "type": "string",
        "minLength": 1,
        "maxLength": 60,
        "pattern": r"^[^,/]{1,60}$",
    },
    "command_api.fields.Hostname": lambda f: {
        "type": "string",
        "pattern": r"^[a-zA-Z0-9-._]{1,255}$" if f._fqdn else r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,61}[a-zA-Z0-9]$",
    },
    "command_api.fields.Uuid": lambda f: _uuid(),
    "command_api.fields.UuidOrList": lambda f: {"anyOf": [_uuid(), {"type": "array", "items": _uuid()}]},
    "command_api.keypairs.KeypairName": _pattern_string,
    "command_api.quotas.QuotaLimit": lambda f: {
        "anyOf": [
            {"type": "integer", "minimum": -1, "maximum": _MAX_INT},
            {"type": "string", "pattern": r"^-?[0-9]{1,10}$"},
        ]
    },
    "command_api.host_aggregates.PaddedName": lambda f: {"type": "string", "minLength": 1, "maxLength": 255},
    "command_api.host_aggregates.ZoneName": lambda f: {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": r"^[!-9;-~]([ -9;-~]{0,253}[!-9;-~])?$",
    },
    "chronova.images.schemas.JsonValue": _json_value,
    "command_api.host_aggregates.HostName": lambda f: {"type": "string", "pattern": _HOST},
    "command_api.host_aggregates.Metadata": lambda f: {
        "type": "object",
        "additionalProperties": {**_METADATA_VALUE, "nullable": True},
    },
}
# Marshmallow's own fields, most specific first.
_STANDARD: tuple[tuple[type, Callable[[Any], JsonSchema]], ...] = (
    (fields.UUID, lambda f: _uuid()),
    (fields.IPv4, lambda f: {"type": "string", "format": "ipv4"}),
    (fields.IPv6, lambda f: {"type": "string", "format": "ipv6"}),
    (fields.IP, lambda f: {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]}),
    (fields.Integer, lambda f: {"type": "integer"}),
    (fields.Number, lambda f: {"type": "number"}),
    (fields.Boolean, lambda f: {"type": "boolean"}),
    (fields.String, lambda f: {"type": "string"}),
    (fields.Dict, _dict),
    (fields.List, lambda f: {"type": "array", "items": field_schema(f.inner)}),
    (fields.Nested, lambda f: schema_of(f.schema)),
    (fields.Raw, lambda f: {}),  # any JSON value
)


def _describer(f: fields.Field) -> Callable[[Any], JsonSchema]:
    """A field of a new kind fails the document (and its tests) rather than being described as "anything"."""
    for kind in type(f).__mro__:
        custom = _CUSTOM.get(f"{kind.__module__}.{kind.__qualname__}")
        if custom is not None:
            return custom
    standard = next((describe for kind, describe in _STANDARD if isinstance(f, kind)), None)
    if standard is None:
        kind = type(f)
        raise TypeError(f"{kind.__module__}.{kind.__qualname__}: say what it accepts in chronova/openapi.py _CUSTOM")
    return standard


def field_schema(f: fields.Field) -> JsonSchema:
    """The JSON values one marshmallow field accepts, with its validators as keywords."""
    described = _describer(f)(f)
    for validator in f.validators:
        _constrain(described, validator)
    if f.allow_none:
        described["nullable"] = True
        if "enum" in described:
            described["enum"] = [*described["enum"], None]
    return described


def _constrain(described: JsonSchema, validator: Any) -> None:
    """Applies a validator to the branch of `described` it concerns (numbers for Range, strings for Length...)."""
    for branch in described.get("anyOf", [described]):
        kind = branch.get("type")
        if isinstance(validator, validate.Length):
            equal = validator.equal
            low, high = (equal, equal) if equal is not None else (validator.min, validator.max)
            names = {"string": "Length", "array": "Items", "object": "Properties"}.get(kind)
            if names is not None:
                if low is not None:
                    branch[f"min{names}"] = low
                if high is not None:
                    branch[f"max{names}"] = high
        elif isinstance(validator, validate.Range) and kind in ("integer", "number"):
            if validator.min is not None:
                branch["minimum"] = validator.min
                if not validator.min_inclusive:
                    branch["exclusiveMinimum"] = True
            if validator.max is not None:
                branch["maximum"] = validator.max
                if not validator.max_inclusive:
                    branch["exclusiveMaximum"] = True
        elif isinstance(validator, validate.OneOf) and kind in ("string", "integer", "number", None):
            branch["enum"] = list(validator.choices)
        elif isinstance(validator, validate.Equal):
            branch["enum"] = [validator.comparable]
        elif isinstance(validator, validate.Regexp) and kind == "string":
            branch["pattern"] = validator.regex.pattern


def _refuses_unknown(schema: Schema) -> bool:
    """Nova-style schemas refuse unknown keys in a pre_load hook; plain ones through `unknown`."""
    nova = any(kind.__name__ == "_NovaSchema" for kind in type(schema).__mro__)
    return nova or schema.unknown == RAISE


def schema_of(schema: Schema | type[Schema]) -> JsonSchema:
    """An object schema from a marshmallow schema: its load fields, their data keys, what is required."""
    instance = schema() if isinstance(schema, type) else schema
    properties: JsonSchema = {}
    required = []
    for name, f in instance.load_fields.items():
        key = f.data_key or name
        properties[key] = field_schema(f)
        if f.required:
            required.append(key)
    described: JsonSchema = {
        "type": "object",
        "properties": properties,
        "additionalProperties": not _refuses_unknown(instance),
    }
    if required:
        described["required"] = required
    return described


def derived(module: str, name: str) -> JsonSchema:
    """The schema of a marshmallow schema (class or instance) named `name` in `module`."""
    return schema_of(getattr(importlib.import_module(module), name))


def envelope(root: str, inner: JsonSchema, **beside: JsonSchema) -> JsonSchema:
    """Nova's bodies wrap the resource in one key: {"server": {...}}; some allow a sibling or two."""
    return {
        "type": "object",
        "properties": {root: inner, **beside},
        "required": [root],
        "additionalProperties": False,
    }


def one_of_versions(*bodies: JsonSchema) -> JsonSchema:
    """A body whose shape depends on the microversion: any of them, each valid at its own versions."""
    return {"anyOf": list(bodies)}
