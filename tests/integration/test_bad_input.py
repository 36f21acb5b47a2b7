"""Bad requests against a real server: each is answered by a metav1.Status with Kubernetes'
code and reason, nothing is written, and the server keeps serving."""

from __future__ import annotations

import pytest

from tests.integration.helpers import cm, status_of

CM_JSON = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}'
TOO_BIG = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "' \
          + b"a" * (3 * 1024 * 1024) + b'"}}'


@pytest.fixture(scope="module")
def ns(api):
    return api.namespace("bad")


@pytest.fixture(scope="module")
def empty_ns(api):
    """A namespace that must stay empty: every request sent to it is refused."""
    return api.namespace("refused")


# (case, request kwargs, code, reason, exact message or None)
CREATE_CASES = [
    ("malformed JSON", {"data": b'{"apiVersion": "v1", "kind":', "content_type": "application/json"},
     400, "BadRequest", None),
    ("malformed YAML", {"data": b"metadata: {name: [x\n", "content_type": "application/yaml"},
     400, "BadRequest", None),
    ("empty body", {"data": b"", "content_type": "application/json"}, 400, "BadRequest", None),
    ("body is a list", {"data": b"[1, 2]", "content_type": "application/json"}, 400, "BadRequest", None),
    ("body is a string", {"data": b'"configmap"', "content_type": "application/json"}, 400, "BadRequest", None),
    ("YAML body is a scalar", {"data": b"just text\n", "content_type": "application/yaml"},
     400, "BadRequest", None),
    ("wrong apiVersion", {"body": {**cm("x"), "apiVersion": "apps/v1"}}, 400, "BadRequest",
     "the API version in the data (apps/v1) does not match the expected API version (v1)"),
    ("wrong kind", {"body": {**cm("x"), "kind": "Secret"}}, 400, "BadRequest", None),
    ("unsupported Content-Type", {"data": CM_JSON, "content_type": "text/plain"},
     415, "UnsupportedMediaType", None),
    ("body over 3 MiB", {"data": TOO_BIG, "content_type": "application/json"},
     413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"),
    ("wrong field type", {"body": {**cm("x"), "data": ["not", "a", "map"]}}, 400, "BadRequest", None),
    ("number for a string", {"body": {**cm("x"), "data": {"k": 5}}}, 400, "BadRequest",
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct '
     "field ConfigMap.data of type string"),
    ("JSON nested too deep", {"data": b"[" * 5000 + b"]" * 5000, "content_type": "application/json"},
     400, "BadRequest", None),
    ("invalid UTF-8", {"data": b'{"metadata": {"name": "\xff"}}', "content_type": "application/json"},
     400, "BadRequest", None),
    ("metadata not an object", {"body": {**cm("x"), "metadata": "x"}}, 400, "BadRequest", None),
    ("strict unknown field", {"body": {**cm("x"), "bogus": 1}, "params": {"fieldValidation": "Strict"}},
     400, "BadRequest",
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus"'),
    ("bad fieldValidation value", {"body": cm("x"), "params": {"fieldValidation": "Loud"}},
     400, "BadRequest", None),
    ("bad dryRun value", {"body": cm("x"), "params": {"dryRun": "Some"}}, 400, "BadRequest", None),
]


@pytest.mark.parametrize("case,kw,code,reason,message", CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_bad_create_is_refused_and_writes_nothing(api, empty_ns, case, kw, code, reason, message):
    path = f"/api/v1/namespaces/{empty_ns}/configmaps"
    before = api.ok("GET", path)["metadata"]["resourceVersion"]
    r = api.post(path, **kw)
    assert r.status_code == code, r.text
    status = status_of(r)
    assert status["reason"] == reason
    if message is not None:
        assert status["message"] == message
    after = api.get(path)
    assert after.status_code == 200  # still serving
    assert after.json()["items"] == []
    assert api.ok("GET", "/api/v1/namespaces")["metadata"]["resourceVersion"] == before  # nothing written


INVALID_NAMES = [
    ("uppercase", "Bad_Name", "metadata.name"),
    ("too long", "a" * 254, "metadata.name"),
    ("trailing dash", "abc-", "metadata.name"),
    ("missing", None, "metadata.name"),
]


@pytest.mark.parametrize("case,name,field", INVALID_NAMES, ids=[c[0] for c in INVALID_NAMES])
def test_invalid_names_are_422_with_causes(api, ns, case, name, field):
    body = cm("x")
    if name is None:
        del body["metadata"]["name"]
    else:
        body["metadata"]["name"] = name
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", body)
    assert r.status_code == 422, r.text
    status = status_of(r)
    assert status["reason"] == "Invalid"
    assert status["message"].startswith(f'ConfigMap "{name or ""}" is invalid: {field}: ')
    causes = status["details"]["causes"]
    assert causes and all(c["field"] == field for c in causes)
    assert causes[0]["reason"] in ("FieldValueInvalid", "FieldValueRequired", "FieldValueTooLong")
    assert status["details"]["kind"] == "ConfigMap"


def test_invalid_label_value_names_the_label_field(api, ns):
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", cm("lbl", labels={"app": "has space"}))
    status = status_of(r)
    assert r.status_code == 422
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.labels"]


NOT_FOUND_PATHS = [
    "/api/v1/frobs",
    "/api/v1/namespaces/default/frobs",
    "/api/v2/pods",
    "/apis/nope.example.com/v1/things",
    "/apis/apps/v9/deployments",
    "/apis/apps/v1/namespaces/default/deployments/x/frob",
    "/api/v1/namespaces/default/configmaps/x/y/z",
    "/nowhere",
]


@pytest.mark.parametrize("path", NOT_FOUND_PATHS)
def test_unknown_resource_group_or_version_is_404(api, path):
    r = api.get(path)
    assert r.status_code == 404, r.text
    status = status_of(r)
    assert status["reason"] == "NotFound"
    assert status["message"] == "the server could not find the requested resource"


@pytest.mark.parametrize("accept,code", [
    ("application/vnd.kubernetes.protobuf", 406),
    ("text/html", 406),
    ("application/vnd.kubernetes.protobuf, application/json", 200),
    ("application/json;q=0.9", 200),
    ("*/*", 200),
])
def test_accept_negotiation_on_list_and_get(api, ns, accept, code):
    for path in (f"/api/v1/namespaces/{ns}/configmaps", "/api/v1/namespaces/default"):
        r = api.get(path, headers={"Accept": accept})
        assert r.status_code == code, (path, r.text)
        if code == 406:
            assert status_of(r)["reason"] == "NotAcceptable"
        else:
            assert r.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("query,message", [
    ({"labelSelector": "app in (a"}, None),
    ({"labelSelector": "a b"}, None),
    ({"labelSelector": "app=has space"}, None),
    # ConfigMaps have no field label conversion of their own: Kubernetes' default message.
    ({"fieldSelector": "spec.foo=x"}, '"spec.foo" is not a known field selector: only "metadata.name", '
                                      '"metadata.namespace"'),
    ({"fieldSelector": "metadata.name"}, None),
    ({"limit": "many"}, None),
])
def test_bad_list_options_are_400(api, ns, query, message):
    r = api.get(f"/api/v1/namespaces/{ns}/configmaps", params=query)
    assert r.status_code == 400, r.text
    status = status_of(r)
    assert status["reason"] == "BadRequest"
    if message:
        assert status["message"] == message


def test_unsupported_field_selector_on_watch_is_400(api, ns):
    r = api.get(f"/api/v1/namespaces/{ns}/pods", params={"watch": "true", "fieldSelector": "spec.foo=x"})
    assert r.status_code == 400
    assert status_of(r)["message"] == "field label not supported: spec.foo"


def test_put_with_a_different_name_is_400(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("put-a"))
    r = api.put(f"{path}/put-a", cm("put-b"))
    assert r.status_code == 400
    assert status_of(r)["message"] == "the name of the object (put-b) does not match the name on the URL (put-a)"
    r = api.put(f"{path}/put-a", cm("put-a", namespace="other"))
    assert r.status_code == 400
    assert status_of(r)["message"] == \
        "the namespace of the provided object does not match the namespace sent on the request"
    assert api.get(f"{path}/put-b").status_code == 404


def test_stale_resource_version_is_409_conflict(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = api.ok("POST", path, cm("stale"))
    api.ok("PATCH", f"{path}/stale", {"data": {"k": "newer"}},
           content_type="application/merge-patch+json")
    old = {**created, "data": {"k": "lost"}}
    for r in (api.put(f"{path}/stale", old),
              api.patch(f"{path}/stale", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                                          "data": {"k": "lost"}})):
        assert r.status_code == 409, r.text
        status = status_of(r)
        assert status["reason"] == "Conflict"
        assert status["message"] == ('Operation cannot be fulfilled on configmaps "stale": the object has been '
                                     "modified; please apply your changes to the latest version and try again")
        assert status["details"] == {"name": "stale", "kind": "configmaps"}
    assert api.ok("GET", f"{path}/stale")["data"] == {"k": "newer"}


def test_create_duplicate_is_409_already_exists(api, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    from tests.integration.helpers import deployment

    api.ok("POST", path, deployment("dup"))
    r = api.post(path, deployment("dup"))
    assert r.status_code == 409
    status = status_of(r)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'deployments.apps "dup" already exists'
    assert status["details"] == {"name": "dup", "group": "apps", "kind": "deployments"}


def test_missing_objects_and_namespaces_are_404(api):
    r = api.post("/api/v1/namespaces/no-such-ns/configmaps", cm("x"))
    assert r.status_code == 404
    status = status_of(r)
    assert (status["reason"], status["message"]) == ("NotFound", 'namespaces "no-such-ns" not found')
    r = api.get("/apis/apps/v1/namespaces/default/deployments/ghost")
    assert r.status_code == 404
    assert status_of(r)["message"] == 'deployments.apps "ghost" not found'
    for method in ("PUT", "PATCH", "DELETE"):
        body = cm("ghost") if method != "PATCH" else {"data": {}}
        ctype = "application/merge-patch+json" if method == "PATCH" else None
        r = api.request(method, "/api/v1/namespaces/default/configmaps/ghost", body, content_type=ctype)
        assert r.status_code == 404, (method, r.text)
        assert status_of(r)["message"] == 'configmaps "ghost" not found'


@pytest.mark.parametrize("validation,code,warned", [("Warn", 201, True), ("Ignore", 201, False), ("", 201, True)])
def test_field_validation_warn_and_ignore(api, ns, validation, code, warned):
    name = f"fv-{validation.lower() or 'default'}"
    params = {"fieldValidation": validation} if validation else None
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", {**cm(name), "bogus": 1}, params=params)
    assert r.status_code == code, r.text
    assert "bogus" not in r.json()
    warning = r.headers.get("Warning")
    if warned:
        assert warning == '299 - "unknown field \\"bogus\\""'
    else:
        assert warning is None
    assert "bogus" not in api.ok("GET", f"/api/v1/namespaces/{ns}/configmaps/{name}")


def test_unsupported_patch_type_is_415(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("patchme"))
    r = api.request("PATCH", f"{path}/patchme", {"data": {}}, content_type="application/json")
    assert r.status_code == 415
    assert status_of(r)["reason"] == "UnsupportedMediaType"


def test_malformed_patches_are_refused(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("badpatch"))
    cases = [
        ("merge", b"{not json", 400),
        ("json", b'{"op": "add"}', 400),  # a JSON patch must be a list
        ("json", b'[{"op": "test", "path": "/data/k", "value": "other"}]', 422),
    ]
    for ptype, data, code in cases:
        r = api.request("PATCH", f"{path}/badpatch", data=data, content_type=f"application/{ptype}-patch+json")
        assert r.status_code == code, (ptype, data, r.text)
        status_of(r)
    assert api.ok("GET", f"{path}/badpatch")["data"] == {"k": "v"}


def test_method_not_allowed(api, ns):
    r = api.put(f"/api/v1/namespaces/{ns}/configmaps", cm("x"))
    assert r.status_code == 405
    assert status_of(r)["reason"] == "MethodNotAllowed"


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/apis/apps/v1/deployments", "/api", "/apis",
                                  "/openapi/v2"])
def test_no_credentials_is_401(anonymous, path):
    r = anonymous.get(path)
    assert r.status_code == 401
    status = status_of(r)
    assert (status["reason"], status["message"]) == ("Unauthorized", "Unauthorized")


def test_wrong_bearer_token_is_401(anonymous):
    r = anonymous.get("/api/v1/namespaces", headers={"Authorization": "Bearer not-the-token"})
    assert r.status_code == 401
    assert status_of(r)["reason"] == "Unauthorized"


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_health_and_version_need_no_credentials(anonymous, path):
    r = anonymous.get(path)
    assert r.status_code == 200, r.text
    if path == "/version":
        assert r.json()["major"] == "1"
    else:
        assert r.text == "ok"


def test_yaml_is_read_as_kubernetes_reads_it(api, ns):
    """Timestamp-like scalars stay strings and non-string keys become strings (go-yaml v2 into
    interface{}, then sigs.k8s.io/yaml's JSON conversion)."""
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: yaml-ok}\ndata: {day: 2024-01-02, 1: one}\n"
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", data=body, content_type="application/yaml")
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {"day": "2024-01-02", "1": "one"}
    api.ok("DELETE", f"/api/v1/namespaces/{ns}/configmaps/yaml-ok")


def test_yaml_alias_bomb_is_answered_quickly(api, ns):
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", data="\n".join(lines), content_type="application/yaml",
                 params={"fieldValidation": "Strict"}, timeout=5)
    assert r.status_code == 400
    assert api.get("/healthz").status_code == 200


def test_null_metadata_is_an_empty_one(api, ns):
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": None})
    assert r.status_code == 422
    assert status_of(r)["message"] == \
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'


def test_put_must_name_the_object(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("unnamed"))
    r = api.put(f"{path}/unnamed", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"k": "2"}})
    assert r.status_code == 400
    assert status_of(r)["message"] == "the name of the object () does not match the name on the URL (unnamed)"
