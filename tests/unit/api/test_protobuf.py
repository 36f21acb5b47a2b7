"""Decoding kubectl's protobuf bodies (kubeling.api.protobuf).

The fixtures are real request bodies captured from kubectl 1.32 and 1.33 by
fixtures/protobuf/capture.py, each next to the JSON the same kubectl prints for
`--dry-run=client -o json` (Go's own JSON for the object it serialized).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kubeling.api import protobuf, schema
from kubeling.api.errors import ApiError

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
CAPTURED = sorted(FIXTURES.glob("1.*/*.pb"))
TOP_LEVEL = ["k8s.io.api.core.v1.Namespace", "k8s.io.api.core.v1.ConfigMap", "k8s.io.api.core.v1.Secret",
             "k8s.io.api.core.v1.ServiceAccount", "k8s.io.api.core.v1.Service",
             "k8s.io.api.apps.v1.Deployment", "k8s.io.api.batch.v1.Job", "k8s.io.api.batch.v1.CronJob"]


def envelope(api_version: str, kind: str, raw: bytes, **extra: str) -> bytes:
    unknown = protobuf.message_class(protobuf.UNKNOWN)(raw=raw, **extra)
    unknown.typeMeta.apiVersion = api_version
    unknown.typeMeta.kind = kind
    return protobuf.MAGIC + unknown.SerializeToString()


def build(name: str, **fields: Any) -> Any:
    return protobuf.message_class(name)(**fields)


def core(kind: str, **fields: Any) -> Any:
    return build(f"k8s.io.api.core.v1.{kind}", **fields)


# ---- real kubectl bodies ------------------------------------------------------------------

def test_fixtures_cover_both_kubectl_versions_and_every_generator():
    versions = {p.parent.name for p in CAPTURED}
    kinds = {json.loads(p.with_suffix(".json").read_text())["kind"] for p in CAPTURED}
    assert versions == {"1.32", "1.33"}
    assert kinds == {t.rsplit(".", 1)[1] for t in TOP_LEVEL}
    assert len(CAPTURED) >= 30


@pytest.mark.parametrize("body", CAPTURED, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_decodes_kubectl_body_like_go_json(body: Path):
    expected = json.loads(body.with_suffix(".json").read_text())
    assert protobuf.decode(body.read_bytes()) == expected


@pytest.mark.parametrize("case, path, value", [
    ("deployment_zero_replicas", ("spec", "replicas"), 0),  # pointer: zero is kept
    ("deployment", ("spec", "strategy"), {}),  # struct value: kept when empty
    ("deployment", ("metadata", "creationTimestamp"), None),  # zero Time prints null
    ("service_clusterip", ("spec", "ports", 1, "targetPort"), "https"),  # IntOrString string
    ("service_clusterip", ("spec", "ports", 0, "targetPort"), 8080),  # IntOrString int
    ("secret_generic", ("data", "user"), base64.b64encode(b"admin").decode()),  # bytes -> base64
    ("service_headless", ("spec", "clusterIP"), "None"),
])
def test_selected_fields_from_kubectl(case: str, path: tuple, value: Any):
    obj: Any = protobuf.decode((FIXTURES / "1.32" / f"{case}.pb").read_bytes())
    for step in path:
        obj = obj[step]
    assert obj == value


def test_zero_non_pointer_fields_are_omitted():
    obj = protobuf.decode((FIXTURES / "1.32" / "service_clusterip.pb").read_bytes())
    port = obj["spec"]["ports"][0]
    assert "nodePort" not in port  # kubectl sends nodePort 0 on the wire
    assert "clusterIP" not in obj["spec"] and "generation" not in obj["metadata"]


# ---- the .proto subset agrees with Kubernetes' OpenAPI schema ------------------------------

def _json_fields(descriptor) -> dict[str, Any]:
    """JSON-visible fields of a message, with embedded (inlined) structs expanded."""
    plan = {f.name: f for f in protobuf._plan(descriptor)}
    out = {}
    for field in descriptor.fields:
        if plan[field.name].inline:
            out.update(_json_fields(field.message_type))
        else:
            out[field.name] = field
    return out


_OPENAPI_TYPES = {"string": {"string"}, "bytes": {"string"}, "bool": {"boolean"},
                  "int32": {"integer"}, "int64": {"integer"}, "double": {"number"}}
_PROTO_TYPES = {9: "string", 12: "bytes", 8: "bool", 5: "int32", 3: "int64", 1: "double"}


def _types(prop: dict) -> set[str]:
    """OpenAPI `type`, a string or a list such as ["string", "null"]."""
    declared = prop.get("type")
    return set(declared if isinstance(declared, list) else [declared]) - {"null"}


def _ref(prop: dict) -> str | None:
    return schema.ref_name(prop) or schema.ref_name((prop.get("allOf") or [{}])[0])


def _check_value(field, prop: dict, problems: list, where: str) -> str | None:
    """Compare one (non-container) value; return the definition to descend into."""
    if field.message_type is None:
        allowed = _OPENAPI_TYPES[_PROTO_TYPES[field.type]]
        proto_type = _PROTO_TYPES[field.type]
        if not _types(prop) or not _types(prop) <= allowed:
            problems.append(f"{where}: proto {proto_type} vs {prop.get('type')}")
        if prop.get("format") in ("int32", "int64", "byte") and prop["format"] != proto_type.replace(
                "bytes", "byte"):
            problems.append(f"{where}: proto {proto_type} vs format {prop['format']}")
        return None
    if field.message_type.full_name in protobuf._SPECIAL:
        return None
    ref = _ref(prop)
    if ref != protobuf.definition_name(field.message_type.full_name):
        problems.append(f"{where}: {field.message_type.full_name} vs {ref}")
        return None
    return ref


def _walk(descriptor, seen: set, problems: list) -> None:
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    definition = schema.definitions()[protobuf.definition_name(descriptor.full_name)]
    props = dict(definition["properties"])
    if "x-kubernetes-group-version-kind" in definition:  # TypeMeta travels in the envelope
        del props["apiVersion"], props["kind"]
    fields = _json_fields(descriptor)
    problems += [f"{descriptor.full_name}.{n}: missing in .proto" for n in props.keys() - fields.keys()]
    problems += [f"{descriptor.full_name}.{n}: not in OpenAPI" for n in fields.keys() - props.keys()]
    for name in fields.keys() & props.keys():
        field, prop, where = fields[name], props[name], f"{descriptor.full_name}.{name}"
        kind = protobuf._kind(field)
        if kind == "map":
            if _types(prop) != {"object"} or "additionalProperties" not in prop:
                problems.append(f"{where}: map vs {prop.get('type')}")
                continue
            field, prop = field.message_type.fields_by_name["value"], prop["additionalProperties"]
        elif kind == "list":
            if _types(prop) != {"array"}:
                problems.append(f"{where}: list vs {prop.get('type')}")
                continue
            prop = prop["items"]
        ref = _check_value(field, prop, problems, where)
        if ref:
            _walk(field.message_type, seen, problems)


def test_proto_messages_match_openapi_definitions_both_ways():
    seen: set[str] = set()
    problems: list[str] = []
    for name in TOP_LEVEL:
        _walk(protobuf.pool().FindMessageTypeByName(name), seen, problems)
    assert problems == []
    assert len(seen) > 100  # the whole PodSpec tree was compared


@pytest.mark.parametrize("message, field, inline", [
    ("k8s.io.api.core.v1.Probe", "handler", True),
    ("k8s.io.api.core.v1.Volume", "volumeSource", True),
    ("k8s.io.api.core.v1.ConfigMapKeySelector", "localObjectReference", True),
    ("k8s.io.api.core.v1.EphemeralContainer", "ephemeralContainerCommon", True),
    ("k8s.io.api.core.v1.Container", "resources", False),
])
def test_embedded_structs_are_derived_from_openapi(message: str, field: str, inline: bool):
    plan = {f.name: f for f in protobuf._plan(protobuf.pool().FindMessageTypeByName(message))}
    assert plan[field].inline is inline


# ---- JSON mapping on hand-built messages ----------------------------------------------------

def _deployment_with_everything() -> bytes:
    dep = build("k8s.io.api.apps.v1.Deployment")
    dep.metadata.name = "web"
    dep.metadata.creationTimestamp.seconds = 1700000000
    dep.metadata.creationTimestamp.nanos = 123456789
    dep.metadata.managedFields.add(manager="kubectl", fieldsType="FieldsV1").fieldsV1.Raw = b'{"f:spec":{}}'
    ru = dep.spec.strategy.rollingUpdate
    ru.maxSurge.type, ru.maxSurge.strVal = 1, "25%"
    ru.maxUnavailable.intVal = 0  # present IntOrString 0 is a real value
    pod = dep.spec.template.spec
    pod.terminationGracePeriodSeconds = 0
    pod.volumes.add(name="data").volumeSource.emptyDir.sizeLimit.string = "1Gi"
    c = pod.containers.add(name="app", image="nginx")
    c.ports.add(containerPort=0)  # required (no omitempty): zero is printed
    c.resources.limits["cpu"].string = "500m"
    c.livenessProbe.handler.httpGet.path = "/healthz"
    c.livenessProbe.handler.httpGet.port.type = 1
    c.livenessProbe.handler.httpGet.port.strVal = "http"
    c.livenessProbe.periodSeconds = 5
    env = c.env.add(name="PW")
    env.valueFrom.secretKeyRef.localObjectReference.name = "creds"
    env.valueFrom.secretKeyRef.key = "pw"
    return envelope("apps/v1", "Deployment", dep.SerializeToString())


def test_json_mapping_of_a_rich_deployment():
    obj = protobuf.decode(_deployment_with_everything())
    assert obj["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"  # Time drops nanos
    assert obj["metadata"]["managedFields"] == [{"manager": "kubectl", "fieldsType": "FieldsV1",
                                                 "fieldsV1": {"f:spec": {}}}]
    assert obj["spec"]["strategy"] == {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    pod = obj["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 0
    assert pod["volumes"] == [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}]
    assert pod["containers"] == [{
        "name": "app", "image": "nginx",
        "ports": [{"containerPort": 0}],
        "resources": {"limits": {"cpu": "500m"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pw"}}}],
    }]


@pytest.mark.parametrize("seconds, nanos, micro, expected", [
    (None, None, False, None),
    (0, None, False, "1970-01-01T00:00:00Z"),
    (1700000000, 987654321, False, "2023-11-14T22:13:20Z"),
    (1700000000, 987654321, True, "2023-11-14T22:13:20.987654Z"),
    (1700000000, None, True, "2023-11-14T22:13:20.000000Z"),
])
def test_time_formats(seconds, nanos, micro, expected):
    name = "MicroTime" if micro else "Time"
    msg = build(f"k8s.io.apimachinery.pkg.apis.meta.v1.{name}")
    if seconds is not None:
        msg.seconds = seconds
    if nanos is not None:
        msg.nanos = nanos
    assert protobuf.to_json(msg) == expected


def test_configmap_binary_data_and_immutable_false_kept():
    cm = core("ConfigMap", immutable=False)
    cm.metadata.name = "bin"
    cm.binaryData["blob"] = b"\x00\xff"
    obj = protobuf.decode(envelope("v1", "ConfigMap", cm.SerializeToString()))
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bin"},
                   "immutable": False, "binaryData": {"blob": "AP8="}}


def test_unknown_fields_are_skipped_like_kubernetes():
    ns = core("Namespace")
    ns.metadata.name = "x"
    raw = ns.SerializeToString() + bytes([0xF8, 0x06, 0x01])  # field 111, varint 1
    assert protobuf.decode(envelope("v1", "Namespace", raw)) == {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}


# ---- errors -------------------------------------------------------------------------------

def _good_raw() -> bytes:
    ns = core("Namespace")
    ns.metadata.name = "x"
    return ns.SerializeToString()


@pytest.mark.parametrize("body, code, reason, words", [
    (b"", 400, "BadRequest", "expected prefix"),
    (b'{"kind":"Namespace"}', 400, "BadRequest", "expected prefix"),
    (protobuf.MAGIC + b"\x0a\xff", 400, "BadRequest", "envelope"),
    (envelope("v1", "Namespace", b"\x0a\x05ab"), 400, "BadRequest", "Namespace"),
    (envelope("v1", "", _good_raw()), 400, "BadRequest", "Kind"),
    (envelope("", "Namespace", _good_raw()), 400, "BadRequest", "apiVersion"),
    (envelope("v1", "Pod", _good_raw()), 415, "UnsupportedMediaType", '"Pod"'),
    (envelope("v1", "PodSpec", _good_raw()), 415, "UnsupportedMediaType", "PodSpec"),
    (envelope("example.com/v1", "Widget", _good_raw()), 415, "UnsupportedMediaType", "Widget"),
    (envelope("v1", "Namespace", _good_raw(), contentEncoding="gzip"), 415, "UnsupportedMediaType", "gzip"),
    (envelope("v1", "Namespace", _good_raw(), contentType="application/json"), 415, "UnsupportedMediaType",
     "application/json"),
])
def test_bad_bodies(body: bytes, code: int, reason: str, words: str):
    with pytest.raises(ApiError) as err:
        protobuf.decode(body)
    assert (err.value.code, err.value.reason) == (code, reason)
    assert words in err.value.message
    assert err.value.status()["code"] == code


def test_envelope_content_type_protobuf_is_accepted():
    body = envelope("v1", "Namespace", _good_raw(), contentType=protobuf.MEDIA_TYPE)
    assert protobuf.decode(body)["metadata"] == {"name": "x"}


@pytest.mark.parametrize("api_version, kind, expected", [
    ("v1", "Service", "k8s.io.api.core.v1.Service"),
    ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
    ("batch/v1", "CronJob", "k8s.io.api.batch.v1.CronJob"),
    ("rbac.authorization.k8s.io/v1", "Role", "k8s.io.api.rbac.v1.Role"),
])
def test_message_name(api_version: str, kind: str, expected: str):
    assert protobuf.message_name(api_version, kind) == expected


def test_parse_proto_rejects_unsupported_syntax():
    with pytest.raises(ValueError, match="unsupported"):
        protobuf.parse_proto("x.proto", 'syntax = "proto3";\npackage p;\nmessage M {\n  oneof x {\n}\n')
