"""OpenAPI documents: structure, self-contained $refs, and what kubectl looks for."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from typing import Any

import orjson
import pytest
from aiohttp import web

from kubeling.api.registry import RESOURCES, group_versions
from kubeling.apiserver import discovery, openapi

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
V3_PREFIX = "#/components/schemas/"
GV_KEYS = [(f"apis/{g}/{v}" if g else f"api/{v}") for g, vs in group_versions().items() for v in vs]
ALL_KEYS = openapi.document_keys()


def _doc(key: str) -> dict[str, Any]:
    return orjson.loads(openapi.openapi_v3_path_document(key))


def _gv_doc(r) -> dict[str, Any]:
    return orjson.loads(openapi.openapi_v3_document(r.group, r.version))


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _ops(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def _gvk(r) -> dict[str, str]:
    return {"group": r.group, "version": r.version, "kind": r.kind}


def _ids(r):
    return f"{r.group or 'core'}/{r.version}/{r.plural}"


# ------------------------------------------------------------------ index


def test_index_lists_every_group_version_and_kubernetes_extras():
    paths = openapi.openapi_v3_index()["paths"]
    assert set(GV_KEYS) <= set(paths)
    assert {"api", "apis", "version", "apis/apps"} <= set(paths)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_index_url_carries_the_documents_sha512(key):
    url = openapi.openapi_v3_index()["paths"][key]["serverRelativeURL"]
    data = openapi.openapi_v3_path_document(key)
    assert url == f"/openapi/v3/{key}?hash={hashlib.sha512(data).hexdigest().upper()}"
    assert openapi.document_hash(data) == url.rsplit("=", 1)[1]


def test_unknown_document_is_none():
    assert openapi.openapi_v3_path_document("apis/nosuch.io/v1") is None
    assert openapi.openapi_v3_document("apps", "v9") is None


def test_documents_are_stable_bytes():
    assert openapi.openapi_v3_document("apps", "v1") is openapi.openapi_v3_document("apps", "v1")


# --------------------------------------------------------------- schemas


@pytest.mark.parametrize("key", ALL_KEYS)
def test_every_ref_resolves_inside_the_document(key):
    doc = _doc(key)
    assert doc["openapi"].startswith("3.0")
    schemas = doc["components"]["schemas"]
    refs = [n["$ref"] for n in _walk(doc) if "$ref" in n]
    assert refs, "a document without references is suspicious"
    for ref in refs:
        assert ref.startswith(V3_PREFIX), ref
        assert ref[len(V3_PREFIX):] in schemas, ref


@pytest.mark.parametrize("key", GV_KEYS)
def test_schemas_are_openapi3_shaped(key):
    schemas = _doc(key)["components"]["schemas"]
    for node in _walk(schemas):
        assert not isinstance(node.get("type"), list), node
        if "$ref" in node:
            # OpenAPI 3.0 ignores siblings of $ref: they must be wrapped in allOf.
            assert set(node) == {"$ref"}, node


@pytest.mark.parametrize("key", GV_KEYS)
def test_meta_kinds_are_included(key):
    schemas = _doc(key)["components"]["schemas"]
    for kind in ("ObjectMeta", "ListMeta", "Status", "WatchEvent", "DeleteOptions", "Patch", "APIResourceList"):
        assert META + kind in schemas


@pytest.mark.parametrize("r", RESOURCES, ids=_ids)
def test_kind_and_list_schemas_carry_their_gvk(r):
    schemas = _gv_doc(r)["components"]["schemas"]
    obj = schemas[r.schema_name]
    assert _gvk(r) in obj["x-kubernetes-group-version-kind"]
    assert "enum" not in obj["properties"]["kind"]  # Kubernetes publishes no enum here
    lst = schemas[r.schema_name + "List"]
    assert {**_gvk(r), "kind": r.list_kind} in lst["x-kubernetes-group-version-kind"]


def test_refs_with_descriptions_are_wrapped_in_all_of():
    spec = _doc("apis/apps/v1")["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
    strategy = spec["properties"]["strategy"]
    assert strategy["allOf"] == [{"$ref": V3_PREFIX + "io.k8s.api.apps.v1.DeploymentStrategy"}]
    assert strategy["description"]


def test_patch_metadata_extensions_are_kept():
    pod_spec = _doc("api/v1")["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]
    containers = pod_spec["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]


def test_int_or_string_and_quantity_are_kubernetes_shaped():
    schemas = _doc("apis/apps/v1")["components"]["schemas"]
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
    assert schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {
        "oneOf": [{"type": "string"}, {"type": "number"}]}


# ----------------------------------------------------------------- paths


@pytest.mark.parametrize("r", RESOURCES, ids=_ids)
def test_resource_paths_and_actions(r):
    doc = _gv_doc(r)
    prefix = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
    base = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{prefix}/{r.plural}"
    paths = doc["paths"]
    actions = {(path, op["x-kubernetes-action"]) for path, _, op in _ops(doc)
               if op.get("x-kubernetes-group-version-kind") == _gvk(r)}
    expected = {(base, "list"), (base, "post"), (base + "/{name}", "get"), (base + "/{name}", "put"),
                (base + "/{name}", "patch"), (base + "/{name}", "delete"),
                (f"{prefix}/watch{base[len(prefix):]}", "watchlist"),
                (f"{prefix}/watch{base[len(prefix):]}/{{name}}", "watch")}
    if "deletecollection" in r.verbs:
        expected.add((base, "deletecollection"))
    if r.namespaced:
        expected |= {(f"{prefix}/{r.plural}", "list"), (f"{prefix}/watch/{r.plural}", "watchlist")}
    assert expected <= actions
    for sub in r.subresources:
        assert f"{base}/{{name}}/{sub}" in paths
    path_params = {p["name"] for p in paths[base + "/{name}"]["parameters"]}
    assert path_params >= ({"name", "namespace"} if r.namespaced else {"name"})


@pytest.mark.parametrize("key", GV_KEYS)
def test_every_patch_declares_field_validation_and_patch_types(key):
    # (connect operations such as services/proxy PATCH forward bodies; they are not patches)
    patches = [op for _, method, op in _ops(_doc(key)) if op.get("x-kubernetes-action") == "patch"]
    assert patches
    for op in patches:
        names = {p["name"] for p in op["parameters"]}
        assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= names, op["operationId"]
        assert set(op["requestBody"]["content"]) == {
            "application/json-patch+json", "application/merge-patch+json",
            "application/strategic-merge-patch+json", "application/apply-patch+yaml"}


@pytest.mark.parametrize("key", GV_KEYS)
def test_writes_declare_field_validation(key):
    for _, method, op in _ops(_doc(key)):
        if method in ("post", "put") and op.get("x-kubernetes-action") in ("post", "put"):
            names = {p["name"] for p in op.get("parameters", [])}
            assert {"fieldValidation", "dryRun", "fieldManager"} <= names, op["operationId"]


def _kubectl_supports(doc: dict[str, Any], gvk: dict[str, str], param: str) -> bool:
    """kubectl's check (cli-runtime queryParamVerifierV3): the first PATCH op for the GVK decides."""
    for _, method, op in _ops(doc):
        if method == "patch" and op.get("x-kubernetes-group-version-kind") == gvk:
            return any(p["name"] == param for p in op.get("parameters", []))
    return False


@pytest.mark.parametrize("r", RESOURCES, ids=_ids)
def test_kubectl_would_send_field_validation(r):
    assert _kubectl_supports(_gv_doc(r), _gvk(r), "fieldValidation")


def test_scale_subresource_uses_autoscaling_scale():
    doc = _doc("apis/apps/v1")
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert op["operationId"] == "patchAppsV1NamespacedDeploymentScale"
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == V3_PREFIX + "io.k8s.api.autoscaling.v1.Scale"


@pytest.mark.parametrize("path, method, action, op_id", [
    ("/api/v1/namespaces/{namespace}/pods/{name}/log", "get", "get", "readCoreV1NamespacedPodLog"),
    ("/api/v1/namespaces/{namespace}/pods/{name}/binding", "post", "post", "createCoreV1NamespacedPodBinding"),
    ("/api/v1/namespaces/{namespace}/pods/{name}/exec", "post", "connect", "connectCoreV1PostNamespacedPodExec"),
    ("/api/v1/namespaces/{namespace}/pods", "get", "list", "listCoreV1NamespacedPod"),
    ("/api/v1/pods", "get", "list", "listCoreV1PodForAllNamespaces"),
    ("/api/v1/namespaces/{name}/finalize", "put", "put", "replaceCoreV1NamespaceFinalize"),
    ("/api/v1/nodes/{name}", "patch", "patch", "patchCoreV1Node"),
])
def test_core_operations(path, method, action, op_id):
    op = _doc("api/v1")["paths"][path][method]
    assert (op["x-kubernetes-action"], op["operationId"]) == (action, op_id)


# ---------------------------------------------------------------- v2


def test_v2_json_is_swagger_with_resolvable_definitions():
    doc = orjson.loads(openapi.openapi_v2_json())
    assert doc["swagger"] == "2.0"
    defs = doc["definitions"]
    for node in _walk(doc):
        if "$ref" in node:
            assert node["$ref"].removeprefix("#/definitions/") in defs, node["$ref"]
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in op["parameters"]}
    assert op["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """A minimal protobuf reader: (field number, bytes or int) for each top-level field."""
    out, i = [], 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            size, i = _read_varint(data, i)
            value, i = data[i:i + size], i + size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((num, value))
    return out


def test_v2_protobuf_is_a_gnostic_document():
    fields = dict(_fields(openapi.openapi_v2_protobuf()))
    assert fields[1] == b"2.0"  # swagger
    assert dict(_fields(fields[2]))[1] == b"Kubernetes"  # info.title
    named = [dict(_fields(v)) for _, v in _fields(fields[9])]  # definitions: NamedSchema
    expected = orjson.loads(openapi.openapi_v2_json())["definitions"]
    assert [n[1].decode() for n in named] == list(expected)
    deployment = next(n[2] for n in named if n[1] == b"io.k8s.api.apps.v1.Deployment")
    extensions = [dict(_fields(v)) for num, v in _fields(deployment) if num == 31]
    [gvk] = [e for e in extensions if e[1] == b"x-kubernetes-group-version-kind"]
    yaml_text = dict(_fields(gvk[2]))[2]
    assert orjson.loads(yaml_text) == [{"group": "apps", "kind": "Deployment", "version": "v1"}]


# ------------------------------------------------------ real kubectl


def _app(seen: list[str], git_version: str) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        path = request.path.rstrip("/") or "/"
        if path == "/version":
            return web.json_response({"major": "1", "minor": git_version.split(".")[1], "gitVersion": git_version})
        if path in ("/api", "/apis"):
            version, content_type = discovery.negotiate_discovery(request.headers.get("Accept", ""))
            seen.append(version or "legacy")
            if version:
                body = discovery.aggregated(path == "/api", version)
            else:
                body = discovery.api_versions() if path == "/api" else discovery.api_group_list()
            return web.Response(body=orjson.dumps(body), headers={"Content-Type": content_type})
        if path == "/openapi/v2":
            return web.Response(body=openapi.openapi_v2_protobuf(),
                                headers={"Content-Type": openapi.OPENAPI_V2_PROTOBUF_CONTENT_TYPE})
        if path == "/openapi/v3":
            return web.json_response(openapi.openapi_v3_index())
        if path.startswith("/openapi/v3/"):
            data = openapi.openapi_v3_path_document(path.removeprefix("/openapi/v3/"))
            if data is not None:
                return web.Response(body=data, content_type="application/json")
        parts = path.strip("/").split("/")
        body = None
        if parts[0] == "api" and len(parts) == 2:
            body = discovery.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            body = discovery.api_resource_list(parts[1], parts[2])
        if body is None:
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": "NotFound", "code": 404}, status=404)
        return web.json_response(body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _kubectl(git_version: str, home, *args: str) -> tuple[str, list[str]]:
    seen: list[str] = []
    runner = web.AppRunner(_app(seen, git_version))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        # A private HOME: no kubeconfig, and fresh discovery and http caches.
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"HOME": str(home)}
        proc = await asyncio.create_subprocess_exec(
            "kubectl", *args, "--server", f"http://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        await runner.cleanup()
    return out.decode(), seen


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


# The kubectl on PATH dispatches to the release nearest the server's gitVersion.
@needs_kubectl
@pytest.mark.parametrize("git_version, discovery_version", [("v1.32.4", "v2"), ("v1.27.16", "v2beta1")])
async def test_kubectl_explain_deployment_strategy(tmp_path, git_version, discovery_version):
    out, seen = await _kubectl(git_version, tmp_path, "explain", "deployment.spec.strategy")
    assert "rollingUpdate" in out, out
    assert "RollingUpdateDeployment" in out, out
    assert discovery_version in seen


@needs_kubectl
async def test_kubectl_explain_pods_recursive(tmp_path):
    out, _ = await _kubectl("v1.32.4", tmp_path, "explain", "pods", "--recursive")
    assert "KIND:       Pod" in out, out[:2000]
    for field_name in ("containers", "livenessProbe", "ownerReferences", "podIP"):
        assert field_name in out, field_name
