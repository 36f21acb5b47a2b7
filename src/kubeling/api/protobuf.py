"""Decode the Kubernetes protobuf wire format (`application/vnd.kubernetes.protobuf`).

kubectl 1.32+ sends its `create <generator>` objects this way: the magic `k8s\\0`, then a
runtime.Unknown envelope {typeMeta{apiVersion, kind}, raw, contentEncoding, contentType} whose
`raw` is the typed message (e.g. k8s.io.api.core.v1.ConfigMap).

The messages are declared in small .proto files under `proto/` (field numbers from Kubernetes'
generated.proto). They are parsed here into descriptors for the protobuf runtime, which does the
wire parsing. The JSON mapping then follows Go's encoding/json on the Kubernetes types:
  - proto field names are the JSON names; a message field whose name is not a property of the
    OpenAPI definition is an embedded Go struct, and its fields are inlined;
  - the .proto files are proto3: a plain scalar is a Go value (omitempty drops its zero value,
    unless the OpenAPI schema marks it required, i.e. no omitempty), an `optional` scalar is a Go
    pointer (kept even when zero); empty lists and maps are dropped;
  - message fields are Go structs, kept when present (`{}` when empty), as Go does;
  - Time/MicroTime -> RFC 3339 (null for the zero time), Quantity -> string,
    IntOrString -> int or str, bytes -> base64, FieldsV1/RawExtension -> embedded JSON.
Unknown fields are skipped, as Kubernetes' generated unmarshallers do.
"""

from __future__ import annotations

import base64
import datetime
import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from kubeling.api import schema
from kubeling.api.errors import ApiError, bad_request

_FDP = descriptor_pb2.FieldDescriptorProto

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# Dependency order: a file's imports come before it.
PROTO_FILES = ("runtime.proto", "intstr.proto", "resource.proto", "meta_v1.proto",
               "core_v1.proto", "apps_v1.proto", "batch_v1.proto")

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
OBJECT_META = _META + "ObjectMeta"
_TIME = _META + "Time"
_MICRO_TIME = _META + "MicroTime"
_FIELDS_V1 = _META + "FieldsV1"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"


# ---- .proto subset -> descriptors ---------------------------------------------------------

_SCALARS = {
    "string": _FDP.TYPE_STRING, "bytes": _FDP.TYPE_BYTES, "bool": _FDP.TYPE_BOOL,
    "int32": _FDP.TYPE_INT32, "int64": _FDP.TYPE_INT64, "double": _FDP.TYPE_DOUBLE,
}
_FIELD = re.compile(r"^(?:(optional|repeated)\s+)?(?:map<\s*(\w+)\s*,\s*([\w.]+)\s*>|([\w.]+))"
                    r"\s+(\w+)\s*=\s*(\d+)\s*;$")


def _strip_comments(text: str) -> list[str]:
    return [line.split("//", 1)[0].strip() for line in text.splitlines()]


def _set_type(field: descriptor_pb2.FieldDescriptorProto, type_name: str, package: str) -> None:
    if type_name in _SCALARS:
        field.type = _SCALARS[type_name]
    else:
        field.type = _FDP.TYPE_MESSAGE
        field.type_name = "." + (type_name if "." in type_name else f"{package}.{type_name}")


def _add_field(msg: descriptor_pb2.DescriptorProto, line: str, package: str) -> None:
    match = _FIELD.match(line)
    if not match:
        raise ValueError(f"unsupported .proto line: {line!r}")
    label, key_type, value_type, type_name, name, number = match.groups()
    field = msg.field.add(name=name, number=int(number), json_name=name)
    if key_type:  # map<K, V> is a repeated nested XxxEntry{key=1, value=2} message
        entry = msg.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        for num, (part, part_type) in enumerate((("key", key_type), ("value", value_type)), start=1):
            sub = entry.field.add(name=part, number=num, json_name=part,
                                  label=_FDP.LABEL_OPTIONAL)
            _set_type(sub, part_type, package)
        field.label = _FDP.LABEL_REPEATED
        field.type = _FDP.TYPE_MESSAGE
        field.type_name = f".{package}.{msg.name}.{entry.name}"
        return
    _set_type(field, type_name, package)
    field.label = _FDP.LABEL_REPEATED if label == "repeated" else _FDP.LABEL_OPTIONAL
    if label == "optional":  # proto3 explicit presence needs a synthetic oneof
        field.proto3_optional = True
        field.oneof_index = len(msg.oneof_decl)
        msg.oneof_decl.add(name=f"_{name}")


def parse_proto(name: str, text: str) -> descriptor_pb2.FileDescriptorProto:
    """Parse the small proto3 subset used under `proto/` (messages of plain, optional,
    repeated and map fields) into a FileDescriptorProto."""
    fdp = descriptor_pb2.FileDescriptorProto(name=name, syntax="proto3")
    msg = None
    for line in _strip_comments(text):
        if not line or line.startswith("syntax"):
            continue
        if line.startswith("package "):
            fdp.package = line[len("package "):].rstrip(";").strip()
        elif line.startswith("import "):
            fdp.dependency.append(line.split('"')[1])
        elif line.startswith("message "):
            msg = fdp.message_type.add(name=line.split()[1])
        elif line == "}":
            msg = None
        elif msg is not None:
            _add_field(msg, line, fdp.package)
        else:
            raise ValueError(f"{name}: unexpected line {line!r}")
    return fdp


@functools.cache
def pool() -> descriptor_pool.DescriptorPool:
    """The descriptor pool holding every message this module can decode."""
    result = descriptor_pool.DescriptorPool()
    folder = resources.files("kubeling.api").joinpath("proto")
    for name in PROTO_FILES:
        result.Add(parse_proto(name, folder.joinpath(name).read_text(encoding="utf-8")))
    return result


@functools.cache
def message_class(full_name: str) -> type[Message]:
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full_name))


# ---- descriptors -> JSON ------------------------------------------------------------------

@dataclass(frozen=True)
class _Field:
    descriptor: FieldDescriptor
    name: str
    kind: str  # "map" | "list" | "message" | "scalar"
    inline: bool  # an embedded Go struct: merge its fields into the parent
    required: bool  # no omitempty in Go: keep the zero value


def definition_name(full_name: str) -> str:
    """OpenAPI definition of a message: k8s.io.api.core.v1.Pod -> io.k8s.api.core.v1.Pod."""
    return "io.k8s." + full_name.removeprefix("k8s.io.")


def _kind(field: FieldDescriptor) -> str:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return "map"
    if field.is_repeated:
        return "list"
    return "message" if field.message_type is not None else "scalar"


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[_Field, ...]:
    definition = schema.definitions().get(definition_name(descriptor.full_name), {})
    properties = definition.get("properties", {})
    required = set(definition.get("required", ()))
    plan = []
    for field in descriptor.fields:
        kind = _kind(field)
        inline = kind == "message" and bool(properties) and field.name not in properties
        plan.append(_Field(field, field.name, kind, inline, field.name in required))
    return tuple(plan)


def _rfc3339(msg: Message, micro: bool) -> str | None:
    if not msg.HasField("seconds") and not msg.HasField("nanos"):
        return None  # Go's zero time travels as an empty message and prints as null
    moment = datetime.datetime.fromtimestamp(msg.seconds, datetime.UTC)
    if micro:  # metav1.MicroTime keeps microseconds; metav1.Time drops sub-second precision
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{msg.nanos // 1000:06d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _raw_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"invalid embedded JSON in protobuf body: {exc}") from exc


_SPECIAL = {
    _TIME: lambda m: _rfc3339(m, micro=False),
    _MICRO_TIME: lambda m: _rfc3339(m, micro=True),
    _QUANTITY: lambda m: m.string,
    _INT_OR_STRING: lambda m: m.strVal if m.type == 1 else m.intVal,
    _FIELDS_V1: lambda m: _raw_json(m.Raw),
    _RAW_EXTENSION: lambda m: _raw_json(m.raw),
}


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None:
        return to_json(value)
    return _scalar(field, value)


def to_json(msg: Message) -> Any:
    """The JSON value Kubernetes' Go types would marshal for a decoded message."""
    special = _SPECIAL.get(msg.DESCRIPTOR.full_name)
    if special is not None:
        return special(msg)
    out: dict[str, Any] = {}
    for f in _plan(msg.DESCRIPTOR):
        value = getattr(msg, f.name)
        if f.kind == "map":
            if value:
                value_field = f.descriptor.message_type.fields_by_name["value"]
                out[f.name] = {k: _value(value_field, v) for k, v in value.items()}
        elif f.kind == "list":
            if value:
                out[f.name] = [_value(f.descriptor, v) for v in value]
        elif f.kind == "message":
            if msg.HasField(f.name):
                converted = to_json(value)
                if f.inline:
                    out.update(converted)
                else:
                    out[f.name] = converted
        elif f.descriptor.has_presence:
            if msg.HasField(f.name):
                out[f.name] = _scalar(f.descriptor, value)
        elif value or f.required:
            out[f.name] = _scalar(f.descriptor, value)
    return out


# ---- envelope -----------------------------------------------------------------------------

def _parse(cls: type[Message], data: bytes, what: str) -> Message:
    msg = cls()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise bad_request(f"unable to decode protobuf {what}: {exc}") from exc
    return msg


def message_name(api_version: str, kind: str) -> str:
    """The protobuf message for a kind: apps/v1 Deployment -> k8s.io.api.apps.v1.Deployment."""
    group, _, version = api_version.rpartition("/")
    package = group.split(".")[0] if group else "core"
    return f"k8s.io.api.{package}.{version}.{kind}"


def _object_message(api_version: str, kind: str) -> type[Message]:
    """The message class of a top-level object (one with ObjectMeta metadata), or 415."""
    try:
        descriptor = pool().FindMessageTypeByName(message_name(api_version, kind))
    except KeyError:
        descriptor = None
    metadata = descriptor.fields_by_name.get("metadata") if descriptor else None
    if metadata is None or metadata.message_type.full_name != OBJECT_META:
        raise ApiError(415, "UnsupportedMediaType",
                       f'no kind "{kind}" is registered for version "{api_version}" '
                       f"in the protobuf decoder; send {kind} as application/json")
    return message_class(descriptor.full_name)


def decode(body: bytes) -> dict[str, Any]:
    """Decode a `k8s\\0` + runtime.Unknown body into the object's JSON dict.

    Raises ApiError 400 BadRequest for a malformed body and 415 for a kind not covered here.
    """
    if not body.startswith(MAGIC):
        raise bad_request("provided data does not appear to be a protobuf message, "
                          "expected prefix [107 56 115 0]")
    envelope = _parse(message_class(UNKNOWN), body[len(MAGIC):], "envelope")
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    if not kind or not api_version:
        raise bad_request("Object 'Kind' is missing in protobuf envelope" if not kind
                          else "Object 'apiVersion' is missing in protobuf envelope")
    if envelope.contentEncoding:
        raise ApiError(415, "UnsupportedMediaType",
                       f'unsupported protobuf content encoding "{envelope.contentEncoding}"')
    if envelope.contentType and envelope.contentType != MEDIA_TYPE:
        raise ApiError(415, "UnsupportedMediaType",
                       f'unsupported protobuf envelope content type "{envelope.contentType}"')
    obj = _parse(_object_message(api_version, kind), envelope.raw, kind)
    return {"apiVersion": api_version, "kind": kind, **to_json(obj)}
