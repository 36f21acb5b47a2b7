"""JSON patch, JSON merge patch and strategic merge patch, checked against Kubernetes' behaviour.

Cases marked "k8s:" are ported from apimachinery's strategicpatch/patch_test.go (mergingList ->
containers merged by name, mergingIntList -> metadata.finalizers) or from the kubectl patch task
page on kubernetes.io, so the expected results are Kubernetes' own.
"""

from __future__ import annotations

import copy

import orjson
import pytest

from kubeling.api.errors import ApiError
from kubeling.api.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
)

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"


def pod(containers=None, **spec) -> dict:
    spec = dict(spec)
    if containers is not None:
        spec["containers"] = containers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def deployment(pod_spec: dict, **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "template": {"spec": pod_spec}, **spec}}


def c(name, **fields) -> dict:
    return {"name": name, **fields}


def smp(original: dict, patch: dict | bytes, schema: str = POD) -> dict:
    body = patch if isinstance(patch, bytes) else orjson.dumps(patch)
    before = copy.deepcopy(original)
    result = apply_patch(STRATEGIC_MERGE_PATCH, original, body, schema)
    assert original == before, "the original must not be mutated"
    return result


def failure(content_type: str, original: dict, body: bytes, schema: str | None = POD) -> ApiError:
    with pytest.raises(ApiError) as info:
        apply_patch(content_type, original, body, schema)
    return info.value


def containers_of(obj: dict) -> list:
    spec = obj["spec"]
    return (spec["template"]["spec"] if "template" in spec else spec)["containers"]


# --- strategic merge patch: containers and other lists merged by key ------------------------

CONTAINER_CASES = [
    pytest.param(  # kubectl-contract.md section 3: a second `kubectl apply`
        [c("nginx", image="nginx:1.25", ports=[{"containerPort": 80}], imagePullPolicy="IfNotPresent")],
        {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}],
         "containers": [{"image": "busybox", "name": "sidecar"},
                        {"image": "nginx:1.26", "name": "nginx", "ports": None}]},
        [c("sidecar", image="busybox"), c("nginx", image="nginx:1.26", imagePullPolicy="IfNotPresent")],
        id="kubectl-apply-contract"),
    pytest.param(
        [c("a", image="a:1"), c("b", image="b:1")],
        {"containers": [c("b", image="b:2")]},
        [c("a", image="a:1"), c("b", image="b:2")],
        id="image-change-keeps-order"),
    pytest.param(  # k8s docs, kubectl patch task: the added container comes first
        [c("patch-demo-ctr", image="nginx")],
        {"containers": [c("patch-demo-ctr-2", image="redis")]},
        [c("patch-demo-ctr-2", image="redis"), c("patch-demo-ctr", image="nginx")],
        id="docs-add-container"),
    pytest.param(
        [c("a", image="a"), c("b", image="b")],
        {"containers": [{"name": "a", "$patch": "delete"}]},
        [c("b", image="b")],
        id="delete-container"),
    pytest.param(
        [c("a"), c("b"), c("c")],
        {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]},
        [c("c"), c("a"), c("b")],
        id="setElementOrder-reorder"),
    pytest.param(
        [c("a", image="a"), c("b", image="b")],
        {"containers": [{"$patch": "replace"}, c("z", image="z")]},
        [c("z", image="z")],
        id="list-patch-replace"),
    pytest.param(  # k8s: preserve the order from the patch in a merging list
        [c("1"), c("2", image="b"), c("3")],
        {"containers": [c("3", image="c"), c("1", image="a"), c("2", workingDir="x")]},
        [c("3", image="c"), c("1", image="a"), c("2", image="b", workingDir="x")],
        id="k8s-patch-order"),
    pytest.param(  # k8s: preserve the order from the patch in a merging list 2
        [c("1"), c("2", image="b"), c("3")],
        {"containers": [c("3", image="c"), c("1", image="a")]},
        [c("2", image="b"), c("3", image="c"), c("1", image="a")],
        id="k8s-patch-order-server-only-first"),
    pytest.param(  # k8s: merge lists of maps (three-way result)
        [c("1", workingDir="a"), c("2", image="2", workingDir="b")],
        {"$setElementOrder/containers": [{"name": "4"}, {"name": "1"}, {"name": "2"}, {"name": "3"}],
         "containers": [c("4", image="4"), c("3", image="3")]},
        [c("4", image="4"), c("1", workingDir="a"), c("2", image="2", workingDir="b"), c("3", image="3")],
        id="k8s-merge-lists-of-maps"),
    pytest.param(  # k8s: $setElementOrder contains item that is not present in the list to be merged
        [c("1"), c("3")],
        {"$setElementOrder/containers": [{"name": "3"}, {"name": "2"}, {"name": "1"}],
         "containers": [c("3", image="3"), c("1", image="1")]},
        [c("3", image="3"), c("1", image="1")],
        id="k8s-order-names-absent-item"),
    pytest.param(  # k8s: de-duplicate entries in a merging list
        [c("1"), c("1"), c("2", image="a"), c("3"), c("3")],
        {"containers": [{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]},
        [c("2", image="a")],
        id="k8s-delete-removes-duplicates"),
    pytest.param(
        [c("app", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])],
        {"containers": [c("app", env=[{"name": "B", "value": "3"}, {"name": "C", "value": "4"}])]},
        [c("app", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"},
                       {"name": "C", "value": "4"}])],
        id="env-merge-by-name"),
    pytest.param(
        [c("app", env=[{"name": "A", "value": "1"},
                       {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}])],
        {"containers": [c("app", env=[{"name": "B", "value": "v", "valueFrom": None}])]},
        [c("app", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "v"}])],
        id="env-item-null-deletes-field"),
    pytest.param(
        [c("app", ports=[{"containerPort": 80}, {"containerPort": 443}])],
        {"containers": [c("app", ports=[{"containerPort": 80, "name": "http"}])]},
        [c("app", ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 443}])],
        id="ports-merge-by-containerPort"),
    pytest.param(
        [c("app", volumeMounts=[{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}])],
        {"containers": [c("app", volumeMounts=[{"mountPath": "/b", "readOnly": True}])]},
        [c("app", volumeMounts=[{"name": "a", "mountPath": "/a"},
                                {"name": "b", "mountPath": "/b", "readOnly": True}])],
        id="volumeMounts-merge-by-mountPath"),
    pytest.param(
        [c("app", args=["--a", "--b"])],
        {"containers": [c("app", args=["--c"])]},
        [c("app", args=["--c"])],
        id="args-replaced"),
]


@pytest.mark.parametrize(("live", "patch", "expected"), CONTAINER_CASES)
def test_containers_in_deployment(live, patch, expected):
    result = smp(deployment({"containers": live}),
                 {"spec": {"template": {"spec": patch}}}, DEPLOYMENT)
    assert containers_of(result) == expected


@pytest.mark.parametrize(("live", "patch", "expected"), CONTAINER_CASES[:4])
def test_containers_in_pod(live, patch, expected):
    assert containers_of(smp(pod(live), {"spec": patch})) == expected


POD_SPEC_CASES = [
    pytest.param(  # k8s docs: tolerations have no patch strategy, so they are replaced
        {"tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]},
        {"tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]},
        {"tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]},
        id="tolerations-replaced"),
    pytest.param(
        {"volumes": [{"name": "data", "emptyDir": {}}]},
        {"volumes": [{"name": "cfg", "configMap": {"name": "cm"}}]},
        {"volumes": [{"name": "cfg", "configMap": {"name": "cm"}}, {"name": "data", "emptyDir": {}}]},
        id="volumes-merge-by-name"),
    pytest.param(
        {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cm"}}]},
        {"volumes": [{"name": "data", "$patch": "delete"}]},
        {"volumes": [{"name": "cfg", "configMap": {"name": "cm"}}]},
        id="volume-delete"),
    pytest.param(
        {"nodeSelector": {"disk": "ssd", "zone": "a"}},
        {"nodeSelector": {"zone": None, "gpu": "yes"}},
        {"nodeSelector": {"disk": "ssd", "gpu": "yes"}},
        id="map-of-strings-merge"),
    pytest.param(
        {"nodeSelector": {"disk": "ssd"}},
        {"nodeSelector": {"$patch": "replace", "gpu": "yes"}},
        {"nodeSelector": {"gpu": "yes"}},
        id="map-patch-replace"),
    pytest.param(
        {"affinity": {"nodeAffinity": {"x": 1}}, "restartPolicy": "Always"},
        {"affinity": {"$patch": "delete"}},
        {"affinity": {}, "restartPolicy": "Always"},
        id="map-patch-delete"),
    pytest.param(
        {"restartPolicy": "Always"},
        {"securityContext": {"$retainKeys": ["runAsUser"], "runAsUser": 1, "runAsGroup": None,
                             "seLinuxOptions": {"$patch": "delete"}}},
        {"restartPolicy": "Always", "securityContext": {"runAsUser": 1}},
        id="new-subtree-loses-directives-and-nulls"),
    pytest.param(
        {"futureField": {"a": {"b": 1}, "list": [1, 2]}},
        {"futureField": {"a": {"c": 2}, "list": [3]}},
        {"futureField": {"a": {"b": 1, "c": 2}, "list": [3]}},
        id="unknown-field-plain-merge"),
]


@pytest.mark.parametrize(("live", "patch", "expected"), POD_SPEC_CASES)
def test_pod_spec(live, patch, expected):
    assert smp(pod(**live), {"spec": patch})["spec"] == expected


META_CASES = [
    pytest.param(
        {"labels": {"app": "web", "tier": "fe"}, "annotations": {"a": "1"}},
        {"labels": {"tier": None, "track": "stable"}, "annotations": {"a": None}},
        {"labels": {"app": "web", "track": "stable"}, "annotations": {}},
        id="labels-annotations"),
    pytest.param(
        {"finalizers": ["a", "b"]},
        {"finalizers": ["b", "c"]},
        {"finalizers": ["a", "b", "c"]},
        id="finalizers-union"),
    pytest.param(  # k8s: preserve the order from the patch in a merging int list
        {"finalizers": ["1", "2", "3"]},
        {"finalizers": ["3", "1"]},
        {"finalizers": ["2", "3", "1"]},
        id="k8s-primitive-order"),
    pytest.param(
        {"finalizers": ["a", "b", "c"]},
        {"$deleteFromPrimitiveList/finalizers": ["b"]},
        {"finalizers": ["a", "c"]},
        id="deleteFromPrimitiveList"),
    pytest.param(  # k8s: delete items in lists of scalars (three-way result)
        {"finalizers": ["1", "2", "3", "4"]},
        {"$setElementOrder/finalizers": ["1", "2"], "$deleteFromPrimitiveList/finalizers": ["3"]},
        {"finalizers": ["1", "2", "4"]},
        id="k8s-delete-from-primitive-with-order"),
    pytest.param(  # k8s: add and delete items in lists of scalars
        {"finalizers": ["1", "2", "3"]},
        {"$setElementOrder/finalizers": ["1", "2", "4"], "$deleteFromPrimitiveList/finalizers": ["3"],
         "finalizers": ["4"]},
        {"finalizers": ["1", "2", "4"]},
        id="k8s-add-and-delete-primitives"),
    pytest.param(  # k8s: $setElementOrder names an item absent from the int list
        {"finalizers": ["1", "3"]},
        {"$setElementOrder/finalizers": ["3", "2", "1"]},
        {"finalizers": ["3", "1"]},
        id="k8s-primitive-order-absent-item"),
    pytest.param(
        {"ownerReferences": [{"uid": "u1", "name": "a", "kind": "ReplicaSet", "apiVersion": "apps/v1"}]},
        {"ownerReferences": [{"uid": "u1", "controller": True}]},
        {"ownerReferences": [{"uid": "u1", "name": "a", "kind": "ReplicaSet", "apiVersion": "apps/v1",
                              "controller": True}]},
        id="ownerReferences-merge-by-uid"),
]


@pytest.mark.parametrize(("live", "patch", "expected"), META_CASES)
def test_metadata(live, patch, expected):
    obj = pod([c("a")])
    obj["metadata"].update(live)
    result = smp(obj, {"metadata": patch})
    assert result["metadata"] == {"name": "p", **expected}


ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}

STRATEGY_CASES = [
    pytest.param({"$retainKeys": ["type"], "type": "Recreate"}, {"type": "Recreate"},
                 id="retainKeys-drops-rollingUpdate"),
    pytest.param({"type": "Recreate"}, {"type": "Recreate", "rollingUpdate": ROLLING["rollingUpdate"]},
                 id="without-retainKeys-rollingUpdate-stays"),
    pytest.param({"$retainKeys": ["type", "rollingUpdate"], "rollingUpdate": {"maxSurge": 1}},
                 {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                 id="retainKeys-keeps-listed"),
    pytest.param({"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}, {"type": "Recreate"},
                 id="retainKeys-ignores-null"),
]


@pytest.mark.parametrize(("patch", "expected"), STRATEGY_CASES)
def test_deployment_strategy(patch, expected):
    live = deployment({"containers": [c("a")]}, strategy=copy.deepcopy(ROLLING))
    assert smp(live, {"spec": {"strategy": patch}}, DEPLOYMENT)["spec"]["strategy"] == expected


def test_no_directive_key_survives_anywhere():
    live = deployment({"containers": [c("a", env=[{"name": "X", "value": "1"}])]},
                      strategy=copy.deepcopy(ROLLING))
    patch = {"spec": {"$unknown": 1, "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                      "template": {"metadata": {"labels": {"$setElementOrder/x": []}},
                                   "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                                            "containers": [c("b", env=[{"name": "Y", "$patch": "delete"}]),
                                                           c("a", env=[{"name": "Z", "value": "2"}])]}}}}
    result = smp(live, patch, DEPLOYMENT)
    assert "$" not in orjson.dumps(result).decode()
    assert [x["name"] for x in containers_of(result)] == ["b", "a"]
    # A new item not named by the live list goes before the server-only ones, as in Kubernetes.
    assert containers_of(result)[1]["env"] == [{"name": "Z", "value": "2"}, {"name": "X", "value": "1"}]


def test_top_level_replace_and_null_body():
    live = pod([c("a")])
    assert smp(live, {"$patch": "replace", "kind": "Pod"}) == {"kind": "Pod"}
    assert smp(live, b"null") == live


# --- strategic merge patch errors -------------------------------------------------------------

SMP_ERRORS = [
    pytest.param(b"{bad", 400, "BadRequest",
                 "invalid character 'b' looking for beginning of object key string",
                 id="bad-key"),
    pytest.param(b"", 400, "BadRequest", "unexpected end of JSON input", id="empty"),
    pytest.param(b'{"spec": [1 2]}', 400, "BadRequest", "invalid character '2' after array element",
                 id="after-array-element"),
    pytest.param(b'{"a": 1 "b": 2}', 400, "BadRequest", "invalid character '\"' after object key:value pair",
                 id="after-pair"),
    pytest.param(b"nope", 400, "BadRequest", "invalid character 'o' in literal null (expecting 'u')",
                 id="bad-literal"),
    pytest.param(b"[]", 400, "BadRequest",
                 "json: cannot unmarshal array into Go value of type map[string]interface {}", id="array"),
    pytest.param(b'{"spec": {"containers": [{"image": "x"}]}}', 500, "",
                 "map: map[image:x] does not contain declared merge key: name", id="missing-merge-key"),
    pytest.param(b'{"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}', 500, "",
                 "merging lists cannot yet be specified in the patch", id="list-patch-merge"),
    pytest.param(b'{"spec": {"affinity": {"$patch": "nope", "a": 1}}}', 500, "",
                 "unknown patch type: nope in map: map[$patch:nope a:1]", id="unknown-map-directive"),
    pytest.param(b'{"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}}',
                 500, "", "the order in patch list:\n[map[name:b]]\n doesn't match $setElementOrder list:\n"
                 "[map[name:a]]", id="order-mismatch"),
    pytest.param(b'{"spec": {"$setElementOrderXX": []}}', 400, "BadRequest",
                 "invalid patch format of setElementOrder list", id="bad-order-key"),
    pytest.param(b'{"spec": {"$retainKeys": ["a"], "restartPolicy": "Never"}}', 400, "BadRequest",
                 "invalid patch format of retainKeys", id="retainKeys-violated"),
    pytest.param(b'{"metadata": {"finalizers": [["x"]]}}', 500, "",
                 "list element types are not identical: [[f] [[x]]]", id="mixed-element-types"),
]


@pytest.mark.parametrize(("body", "code", "reason", "message"), SMP_ERRORS)
def test_strategic_merge_patch_errors(body, code, reason, message):
    live = pod([c("a")], affinity={"nodeAffinity": {}})
    live["metadata"]["finalizers"] = ["f"]
    err = failure(STRATEGIC_MERGE_PATCH, live, body)
    assert (err.code, err.reason, err.message) == (code, reason, message)


def test_list_of_lists_is_unprocessable():
    live = pod([c("a")])
    live["metadata"]["finalizers"] = []
    err = failure(STRATEGIC_MERGE_PATCH, live, b'{"metadata": {"finalizers": [["x"]]}}')
    assert (err.code, err.reason, err.message) == (
        422, "Invalid", "the server rejected our request due to an error in our request")


def test_strategic_merge_patch_refused_for_unknown_types():
    err = failure(STRATEGIC_MERGE_PATCH, {"kind": "Widget"}, b"{}", schema=None)
    assert (err.code, err.reason) == (415, "UnsupportedMediaType")
    assert err.message == ("the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, "
                           "application/apply-patch+yaml")


def test_unknown_content_type():
    err = failure("text/plain", pod([c("a")]), b"{}")
    assert err.code == 415
    assert "application/strategic-merge-patch+json" in err.message


def test_content_type_parameters_are_ignored():
    result = apply_patch(MERGE_PATCH + "; charset=utf-8", {"a": 1}, b'{"b": 2}', None)
    assert result == {"a": 1, "b": 2}


# --- JSON merge patch ------------------------------------------------------------------------

MERGE_CASES = [
    pytest.param({"spec": {"replicas": 1, "paused": True}}, {"spec": {"replicas": 5, "paused": None}},
                 {"spec": {"replicas": 5}}, id="replace-and-null-deletes"),
    pytest.param({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
                 {"spec": {"containers": [{"name": "c"}]}},
                 {"spec": {"containers": [{"name": "c"}]}}, id="lists-replaced"),
    pytest.param({"metadata": {"name": "x"}}, {"metadata": {"labels": {"a": "1", "b": None}}},
                 {"metadata": {"name": "x", "labels": {"a": "1"}}}, id="new-map-nulls-pruned"),
    pytest.param({"a": "scalar"}, {"a": {"b": 1, "c": None}}, {"a": {"b": 1}}, id="scalar-to-map"),
    pytest.param({"a": 1}, {"missing": None}, {"a": 1}, id="null-on-missing"),
]


@pytest.mark.parametrize(("original", "patch", "expected"), MERGE_CASES)
def test_merge_patch(original, patch, expected):
    before = copy.deepcopy(original)
    assert apply_patch(MERGE_PATCH, original, orjson.dumps(patch), DEPLOYMENT) == expected
    assert original == before


@pytest.mark.parametrize(("body", "code", "message"), [
    pytest.param(b"{bad", 400, "Invalid JSON Patch", id="syntax"),
    pytest.param(b"null", 400, "Invalid JSON Patch", id="null"),
    pytest.param(b"5", 400, "Invalid JSON Patch", id="scalar"),
    pytest.param(b"[1]", 422, ' "" is invalid: patch: Invalid value: "[1]": '
                 "couldn't get version/kind; json parse "
                 "error: json: cannot unmarshal array into Go value of type struct { APIVersion string "
                 '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }', id="array"),
])
def test_merge_patch_errors(body, code, message):
    err = failure(MERGE_PATCH, {"a": 1}, body)
    assert (err.code, err.message) == (code, message)


# --- JSON patch ------------------------------------------------------------------------------

JSON_PATCH_CASES = [
    pytest.param([{"op": "add", "path": "/metadata/labels", "value": {"a": "1"}}],
                 {"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 1, "list": [1, 2]}},
                 id="add"),
    pytest.param([{"op": "replace", "path": "/spec/replicas", "value": 3}],
                 {"metadata": {"name": "x"}, "spec": {"replicas": 3, "list": [1, 2]}}, id="replace"),
    pytest.param([{"op": "remove", "path": "/spec/list/0"}],
                 {"metadata": {"name": "x"}, "spec": {"replicas": 1, "list": [2]}}, id="remove"),
    pytest.param([{"op": "test", "path": "/spec/replicas", "value": 1},
                  {"op": "add", "path": "/spec/list/-", "value": 3}],
                 {"metadata": {"name": "x"}, "spec": {"replicas": 1, "list": [1, 2, 3]}},
                 id="test-then-append"),
    pytest.param(None, {"metadata": {"name": "x"}, "spec": {"replicas": 1, "list": [1, 2]}}, id="null-body"),
]

JSON_DOC = {"metadata": {"name": "x"}, "spec": {"replicas": 1, "list": [1, 2]}}


@pytest.mark.parametrize(("ops", "expected"), JSON_PATCH_CASES)
def test_json_patch(ops, expected):
    original = copy.deepcopy(JSON_DOC)
    assert apply_patch(JSON_PATCH, original, orjson.dumps(ops), None) == expected
    assert original == JSON_DOC


@pytest.mark.parametrize(("ops", "code", "reason", "message"), [
    pytest.param([{"op": "test", "path": "/spec/replicas", "value": 2}], 422, "Invalid",
                 "the server rejected our request due to an error in our request", id="test-fails"),
    pytest.param([{"op": "remove", "path": "/spec/missing"}], 422, "Invalid",
                 "the server rejected our request due to an error in our request", id="remove-missing"),
    pytest.param([{"op": "replace", "path": "/nope/x", "value": 1}], 422, "Invalid",
                 "the server rejected our request due to an error in our request", id="replace-missing"),
    pytest.param([{"op": "frobnicate", "path": "/a"}], 422, "Invalid",
                 "the server rejected our request due to an error in our request", id="unknown-op"),
    pytest.param({"op": "add"}, 400, "BadRequest",
                 "json: cannot unmarshal object into Go value of type jsonpatch.Patch", id="object-body"),
    pytest.param(["add"], 400, "BadRequest",
                 "json: cannot unmarshal string into Go value of type jsonpatch.Operation", id="string-op"),
    pytest.param([{"op": "test", "path": "/a", "value": 1}] * 10001, 413, "RequestEntityTooLarge",
                 "Request entity too large: The allowed maximum operations in a JSON patch is 10000, "
                 "got 10001",
                 id="too-many-ops"),
])
def test_json_patch_errors(ops, code, reason, message):
    err = failure(JSON_PATCH, copy.deepcopy(JSON_DOC), orjson.dumps(ops))
    assert (err.code, err.reason, err.message) == (code, reason, message)


def test_json_patch_bad_json():
    err = failure(JSON_PATCH, JSON_DOC, b"[{")
    assert (err.code, err.message) == (400, "unexpected end of JSON input")


def test_json_patch_replacing_root_with_array_is_invalid():
    err = failure(JSON_PATCH, JSON_DOC, b'[{"op": "replace", "path": "", "value": []}]')
    assert err.code == 422 and err.message.startswith(' "" is invalid: patch: Invalid value: "[]"')
