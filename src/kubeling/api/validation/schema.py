"""Decode-time checks of an object against Kubernetes' OpenAPI definitions.

kube-apiserver decodes a request body into typed Go structs before any semantic
validation runs. That step is what this module reproduces:

* A JSON value of the wrong type (`"replicas": "3"`), an int32 that overflows, a
  Quantity, time or base64 value that does not parse: the Go decoder fails and the
  server answers **400 BadRequest** with
  `Deployment in version "v1" cannot be handled as a Deployment: json: cannot
  unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`.
  These come back as *causes*; `causes[0]` is the one kube-apiserver reports
  (Go keeps the first type error but stops at the first custom-unmarshaler error,
  which then wins). `decode_error()` builds the exact 400.
* Fields the Go structs do not have: *unknown fields*, paths as Kubernetes prints
  them (`spec.template.spec.containers[0].foo`), in document order. With
  fieldValidation=Strict they become a 400 (`strict_decoding_error()`), with Warn
  one warning each (`unknown_field_warnings()`), with Ignore nothing; either way
  `prune()` drops them, as the Go decoder never stores them.

Not checked here, as in Kubernetes: `required`, `enum` and formats other than the
ones the decoder parses; those belong to semantic validation (422 Invalid).
Known gap: Go named string types (`v1.RestartPolicy`) are reported as `string`.

Each definition is compiled once into a closure (cached by name), so a write pays
only for a walk over the object.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable
from typing import Any

from kubeling.api import errors
from kubeling.api import schema as openapi

# Reasons of decode causes. Kubernetes puts no causes in this 400; these only let
# callers tell plain type mismatches from values a custom decoder rejected.
REASON_TYPE = "FieldValueTypeInvalid"
REASON_VALUE = "FieldValueInvalid"
MAX_STRICT_ERRORS = 100  # sigs.k8s.io/json stops collecting strict errors here

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_TIME = _META + "Time"
_MICRO_TIME = _META + "MicroTime"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"

# A path is a linked tuple (parent, segment, struct); struct is the Go type holding a
# struct field, "" for a map key, None for a list index. Built only as deep as the walk.
Path = tuple | None
Check = Callable[[Any, Path, "_Walk"], None]


class _Abort(Exception):
    """Go's decoder returns at once when a custom UnmarshalJSON fails."""


class _Walk:
    __slots__ = ("causes", "unknown")

    def __init__(self) -> None:
        self.causes: list[dict] = []
        self.unknown: list[str] = []

    def type_error(self, value_desc: str, go_type: str, path: Path, fatal: bool = False) -> None:
        struct, fields = _go_context(path)
        if struct or fields:
            where = f"Go struct field {struct}.{fields}"
        else:
            where = "Go value"
        msg = f"json: cannot unmarshal {value_desc} into {where} of type {go_type}"
        self.add(path, msg, REASON_TYPE, fatal)

    def add(self, path: Path, message: str, reason: str, fatal: bool = False) -> None:
        cause = errors.field_cause(render_path(path), message, reason)
        if fatal:
            self.causes.insert(0, cause)
            raise _Abort
        self.causes.append(cause)

    def unknown_field(self, parent: dict, path: Path, key: str) -> None:
        field = UnknownField(render_path((path, key, "")))
        field.parent, field.key = parent, key
        self.unknown.append(field)


def validate_schema(obj: dict, schema_name: str) -> tuple[list[dict], list[str]]:
    """Decode-check `obj` against definition `schema_name` (e.g. io.k8s.api.apps.v1.Deployment).

    Returns (causes, unknown_fields). Non-empty causes mean kube-apiserver would
    reject the body with 400 (see `decode_error`); causes[0] carries its message.
    Unknown fields are `UnknownField` strings (paths), all of them, in document order.
    """
    walk = _Walk()
    try:
        checker(schema_name)(obj, None, walk)
    except _Abort:
        pass
    return walk.causes, walk.unknown


class UnknownField(str):
    """An unknown field's path; also remembers where it sits, so `prune` can drop it."""

    parent: dict
    key: str


def decode_error(rt: Any, causes: list[dict]) -> errors.ApiError:
    """The 400 kube-apiserver answers for a body its decoder rejects.

    `rt` is anything with `.kind` and `.version` (a registry ResourceType).
    """
    return _cannot_handle(rt, causes[0]["message"])


def strict_decoding_error(rt: Any, unknown_fields: list[str]) -> errors.ApiError:
    """The 400 for unknown fields under fieldValidation=Strict (at most 100 listed, as Go does)."""
    listed = ", ".join(unknown_field_warnings(unknown_fields[:MAX_STRICT_ERRORS]))
    return _cannot_handle(rt, f"strict decoding error: {listed}")


def unknown_field_warnings(unknown_fields: list[str]) -> list[str]:
    """One `Warning:` header text per unknown field (fieldValidation=Warn)."""
    return [f'unknown field "{p}"' for p in unknown_fields]


def prune(obj: dict, unknown_fields: list[str]) -> None:
    """Drop unknown fields from `obj`, as the Go decoder never stores them."""
    for field in unknown_fields:
        if isinstance(field, UnknownField):
            field.parent.pop(field.key, None)


def _cannot_handle(rt: Any, why: str) -> errors.ApiError:
    return errors.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {why}')


def render_path(path: Path) -> str:
    """`spec.template.spec.containers[0].name`, as sigs.k8s.io/json prints paths."""
    parts: list[str] = []
    while path is not None:
        path, seg, struct = path
        parts.append(f"[{seg}]" if struct is None else "." + seg)
    text = "".join(reversed(parts))
    return text.removeprefix(".")


def _go_context(path: Path) -> tuple[str, str]:
    """(struct type, dotted field stack) as encoding/json reports them: struct fields only."""
    names: list[str] = []
    struct = ""
    while path is not None:
        path, seg, owner = path
        if owner:
            names.append(seg)
            struct = struct or owner
    return struct, ".".join(reversed(names))


# ---------------------------------------------------------------- compilation

_compiled: dict[str, Check] = {}


def checker(name: str) -> Check:
    """The compiled check of a definition; built once, then reused by every walk.

    Struct fields compile on first use, so recursive definitions (JSONSchemaProps)
    need no special care.
    """
    check = _compiled.get(name)
    if check is None:
        check = _compiled[name] = _compile_definition(name)
    return check


def _compile_definition(name: str) -> Check:
    special = _SPECIAL.get(name)
    if special is not None:
        return special
    node = openapi.definition(name)
    if "properties" not in node:
        # RawExtension, FieldsV1, apiextensions JSON...: custom decoders take anything.
        return _any
    return _struct(name, node["properties"])


def _compile(node: dict) -> Check:
    ref = openapi.ref_name(node)
    if ref is not None:
        return checker(ref)
    types = node.get("type") or ()
    if isinstance(types, str):
        types = (types,)
    if "object" in types and "additionalProperties" in node:
        return _map(node["additionalProperties"])
    if "array" in types:
        return _array(node.get("items") or {})
    if "string" in types:
        return _bytes if node.get("format") == "byte" else _string
    if "integer" in types:
        return _integer(node.get("format") == "int32")
    if "boolean" in types:
        return _boolean
    if "number" in types:
        return _number
    return _any


def _go_type(node: dict) -> str:
    """The Go type a schema node decodes into, as reflect.Type.String() prints it."""
    ref = openapi.ref_name(node)
    if ref is not None:
        pkg, _, typ = ref.rpartition(".")
        return f"{pkg.rpartition('.')[2]}.{typ}"
    types = node.get("type") or ()
    if "array" in types:
        return "[]" + _go_type(node.get("items") or {})
    if "object" in types and "additionalProperties" in node:
        value = node["additionalProperties"]
        if openapi.ref_name(value) == _QUANTITY:
            return "v1.ResourceList"
        return "map[string]" + _go_type(value)
    if "string" in types:
        return "[]uint8" if node.get("format") == "byte" else "string"
    if "integer" in types:
        return "int32" if node.get("format") == "int32" else "int64"
    if "boolean" in types:
        return "bool"
    if "number" in types:
        return "float64"
    return "interface {}"


def _describe(value: Any) -> str:
    """How encoding/json names a JSON value in UnmarshalTypeError."""
    t = type(value)
    if t is str:
        return "string"
    if t is bool:
        return "bool"
    if t is dict:
        return "object"
    if t is list:
        return "array"
    return "number"


def _any(value: Any, path: Path, walk: _Walk) -> None:
    return None


def _string(value: Any, path: Path, walk: _Walk) -> None:
    if value is not None and type(value) is not str:
        walk.type_error(_describe(value), "string", path)


def _boolean(value: Any, path: Path, walk: _Walk) -> None:
    if value is not None and type(value) is not bool:
        walk.type_error(_describe(value), "bool", path)


def _number(value: Any, path: Path, walk: _Walk) -> None:
    t = type(value)
    if value is not None and t is not int and t is not float:
        walk.type_error(_describe(value), "float64", path)


_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def _integer(int32: bool) -> Check:
    lo, hi = _INT32 if int32 else _INT64
    go_type = "int32" if int32 else "int64"

    def check(value: Any, path: Path, walk: _Walk) -> None:
        t = type(value)
        if t is int:
            if lo <= value <= hi:
                return
        elif value is None:
            return
        elif t is not float:
            walk.type_error(_describe(value), go_type, path)
            return
        # Go's ParseInt rejects the literal: "number 3.5", "number 3000000000".
        walk.type_error("number " + _number_literal(value), go_type, path)

    return check


def _number_literal(value: float) -> str:
    return str(value) if type(value) is int else repr(value)


def _bytes(value: Any, path: Path, walk: _Walk) -> None:
    if value is None:
        return
    if type(value) is not str:
        walk.type_error(_describe(value), "[]uint8", path)
        return
    bad = base64_error_offset(value.encode())
    if bad is not None:
        walk.add(path, f"illegal base64 data at input byte {bad}", REASON_VALUE)


def _array(items: dict) -> Check:
    item = _compile(items)
    go_type = "[]" + _go_type(items)

    def check(value: Any, path: Path, walk: _Walk) -> None:
        if type(value) is list:
            for i, elem in enumerate(value):
                item(elem, (path, i, None), walk)
        elif value is not None:
            walk.type_error(_describe(value), go_type, path)

    return check


def _map(values: dict) -> Check:
    elem = _compile(values)
    go_type = _go_type({"type": ["object"], "additionalProperties": values})

    def check(value: Any, path: Path, walk: _Walk) -> None:
        if type(value) is dict:
            for key, sub in value.items():
                elem(sub, (path, key, ""), walk)
        elif value is not None:
            walk.type_error(_describe(value), go_type, path)

    return check


def _struct(name: str, properties: dict) -> Check:
    go_name = name.rpartition(".")[2]
    go_type = _go_type({"$ref": openapi.REF_PREFIX + name})
    fields: dict[str, Check] = {}

    def check(value: Any, path: Path, walk: _Walk) -> None:
        if type(value) is not dict:
            if value is not None:
                walk.type_error(_describe(value), go_type, path)
            return
        if not fields:
            fields.update((k, _compile(v)) for k, v in properties.items())
        get = fields.get
        for key, sub in value.items():
            field = get(key)
            if field is None:
                walk.unknown_field(value, path, key)
            elif sub is not None:
                field(sub, (path, key, go_name), walk)

    return check


# ---------------------------------------------------------------- custom decoders


def _int_or_string(value: Any, path: Path, walk: _Walk) -> None:
    # IntOrString.UnmarshalJSON decodes a quoted value as string, anything else as int32.
    t = type(value)
    if value is None or t is str or (t is int and _INT32[0] <= value <= _INT32[1]):
        return
    desc = "number " + _number_literal(value) if t in (int, float) else _describe(value)
    walk.type_error(desc, "int32", path, fatal=True)


def _quantity(value: Any, path: Path, walk: _Walk) -> None:
    if value is None:
        return
    t = type(value)
    if t is str:
        text = value.strip()
    elif t is int or t is float:
        text = _number_literal(value)
    else:
        # The raw JSON (`true`, `{...}`) never matches the quantity pattern.
        text = "true" if value is True else "false" if value is False else "{"
    if quantity_error(text):
        walk.add(path, quantity_error(text), REASON_VALUE, fatal=True)


def _time(layout: str) -> Check:
    def check(value: Any, path: Path, walk: _Walk) -> None:
        if value is None:
            return
        if type(value) is not str:
            # metav1.Time first unmarshals the raw value into a Go string.
            walk.type_error(_describe(value), "string", path, fatal=True)
            return
        problem = go_time_parse_error(layout, value)
        if problem:
            walk.add(path, problem, REASON_VALUE, fatal=True)

    return check


_SPECIAL: dict[str, Check] = {
    _INT_OR_STRING: _int_or_string,
    _QUANTITY: _quantity,
    _TIME: _time(RFC3339),
    _MICRO_TIME: _time(RFC3339_MICRO),
}


# ---------------------------------------------------------------- value syntaxes

QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"
# ParseQuantity's grammar: sign, digits, optional fraction, then a suffix run. It is
# looser than its own error message ("+", "." and "1." parse as numbers).
_QUANTITY_RE = re.compile(r"[+-]?[0-9]*(?:\.[0-9]*)?([eEinumkKMGTP]*[-+]?[0-9]*)")
_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
_EXPONENT_RE = re.compile(r"[eE][-+]?[0-9]+")


def quantity_error(text: str) -> str | None:
    """resource.ParseQuantity's error for `text`, or None when it parses."""
    m = _QUANTITY_RE.fullmatch(text) if text else None
    if m is None:
        return QUANTITY_FORMAT_ERROR
    suffix = m.group(1)
    if suffix not in _SUFFIXES and not _EXPONENT_RE.fullmatch(suffix):
        return QUANTITY_SUFFIX_ERROR
    return None


_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = frozenset(b"\r\n")


def base64_error_offset(data: bytes) -> int | None:
    """Offset Go's base64.StdEncoding reports as illegal, or None if `data` decodes."""
    si, n = 0, len(data)
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return si - j  # a quantum cut short: StdEncoding requires padding
            c = data[si]
            si += 1
            if c in _B64:
                j += 1
                continue
            if c in _NEWLINES:
                continue
            if c != 0x3D or j < 2:  # not '=', or padding too early
                return si - 1
            if j == 2:  # "==" expected: the second '=' must follow
                while si < n and data[si] in _NEWLINES:
                    si += 1
                if si == n:
                    return n
                if data[si] != 0x3D:
                    return si - 1
                si += 1
            while si < n and data[si] in _NEWLINES:
                si += 1
            return si if si < n else None  # anything after the padding is garbage


# time.Parse, reduced to the two layouts Kubernetes uses. Each step: the literal that
# precedes an element, and the element.
_LAYOUT_STEPS = {
    RFC3339: (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"), ("", "Z07:00")),
    RFC3339_MICRO: (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"),
                    ("", ".000000"), ("", "Z07:00")),
}


class _Bad(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def go_time_parse_error(layout: str, value: str) -> str | None:
    """time.Parse(layout, value)'s error text, or None when Go would accept the value. Cached:
    timestamps have one-second resolution, so a busy server checks the same few over and over."""
    rest = value
    fields: dict[str, int] = {}
    steps = _LAYOUT_STEPS[layout]
    for i, (literal, elem) in enumerate(steps):
        for ch in literal:
            if not rest or rest[0] != ch:
                return _time_error(layout, value, literal, rest)
            rest = rest[1:]
        hold = rest
        try:
            rest, out_of_range = _parse_element(elem, rest, fields, steps[i + 1][1] if i + 1 < len(steps) else "")
        except _Bad:
            return _time_error(layout, value, elem, hold)
        if out_of_range:
            return f"parsing time {_quote(value)}: {out_of_range} out of range"
    if rest:
        return f"parsing time {_quote(value)}: extra text: {_quote(rest)}"
    year, month, day = fields["2006"], fields["01"], fields["02"]
    if day < 1 or day > calendar.monthrange(year, month)[1]:
        return f"parsing time {_quote(value)}: day out of range"
    return None


def _parse_element(elem: str, s: str, fields: dict[str, int], next_elem: str) -> tuple[str, str]:
    """Consume one layout element; returns (rest, name of a range error or "")."""
    if elem == "2006":
        if len(s) < 4 or not s[:4].isdigit():
            raise _Bad
        fields[elem] = int(s[:4])
        return s[4:], ""
    if elem in ("01", "02", "15", "04", "05"):
        n, s = _getnum(s, fixed=elem != "15")
        fields[elem] = n
        limit = {"01": ("month", 1, 12), "02": ("day", 0, 99), "15": ("hour", 0, 23),
                 "04": ("minute", 0, 59), "05": ("second", 0, 59)}[elem]
        if not limit[1] <= n <= limit[2]:
            return s, limit[0]
        if elem == "05" and next_elem != ".000000" and len(s) >= 2 and s[0] in ".," and s[1].isdigit():
            k = 2
            while k < len(s) and s[k].isdigit():
                k += 1
            return s[k:], ""  # a fraction the layout does not ask for is still accepted
        return s, ""
    if elem == ".000000":
        if len(s) < 7 or s[0] not in ".," or not s[1:7].isdigit():
            raise _Bad
        return s[7:], ""
    # Z07:00
    if s.startswith("Z"):
        return s[1:], ""
    if len(s) < 6 or s[3] != ":" or s[0] not in "+-":
        raise _Bad
    hours, _ = _getnum(s[1:3], fixed=True)
    minutes, _ = _getnum(s[4:6], fixed=True)
    if hours > 24:
        return s[6:], "time zone offset hour"
    if minutes > 60:
        return s[6:], "time zone offset minute"
    return s[6:], ""


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not s[:1].isdigit() or not s[:1].isascii():
        raise _Bad
    if len(s) < 2 or not (s[1].isdigit() and s[1].isascii()):
        if fixed:
            raise _Bad
        return int(s[0]), s[1:]
    return int(s[:2]), s[2:]


def _time_error(layout: str, value: str, layout_elem: str, value_elem: str) -> str:
    return (f"parsing time {_quote(value)} as {_quote(layout)}: "
            f"cannot parse {_quote(value_elem)} as {_quote(layout_elem)}")


def _quote(s: str) -> str:
    """Go's time.quote: double quotes, backslash-escaping quotes and backslashes."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
