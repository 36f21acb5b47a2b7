"""What create, update, patch, delete and the subresources mean, checked over HTTPS against
a real server and compared with kube-apiserver's behaviour."""

from __future__ import annotations

import datetime as dt
import http.client
import re
import ssl
import time
import urllib.parse

import orjson
import pytest

from tests.integration.helpers import cm, deployment, pod, status_of

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def ns(api):
    return api.namespace("sem")


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---- create ---------------------------------------------------------------------------------------


def test_create_sets_system_metadata_and_ignores_client_values(api, ns):
    body = cm("sys", uid="not-a-real-uid", creationTimestamp="2001-01-01T00:00:00Z", resourceVersion="999999",
              generation=7, deletionTimestamp="2001-01-01T00:00:00Z", selfLink="/x")
    created = api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", body)
    md = created["metadata"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", md["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", md["creationTimestamp"])
    assert abs((_ts(md["creationTimestamp"]) - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert md["resourceVersion"] != "999999" and int(md["resourceVersion"]) > 0
    for absent in ("generation", "deletionTimestamp", "selfLink"):
        assert absent not in md
    assert md["namespace"] == ns
    assert api.ok("GET", f"/api/v1/namespaces/{ns}/configmaps/sys") == created


def test_generate_name(api, ns):
    body = cm("")
    body["metadata"] = {"generateName": "gen-"}
    names = set()
    for _ in range(3):
        r = api.post(f"/api/v1/namespaces/{ns}/configmaps", body)
        assert r.status_code == 201
        md = r.json()["metadata"]
        assert re.fullmatch(r"gen-[bcdfghjklmnpqrstvwxz2456789]{5}", md["name"]), md["name"]
        assert md["generateName"] == "gen-"
        names.add(md["name"])
    assert len(names) == 3


# ---- update -------------------------------------------------------------------------------------


def test_generation_bumps_only_on_spec_changes(api, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", path, {**deployment("gen"), "metadata": {"name": "gen", "generation": 5}})
    assert d["metadata"]["generation"] == 1
    steps = [
        ("label", {"metadata": {"labels": {"x": "y"}}}, 1),
        ("annotation", {"metadata": {"annotations": {"a": "b"}}}, 1),
        ("replicas", {"spec": {"replicas": 3}}, 2),
        ("client generation", {"metadata": {"generation": 40}}, 2),
        ("image", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}, 3),
    ]
    for step, body, generation in steps:
        d = api.ok("PATCH", f"{path}/gen", body, content_type=MERGE)
        assert d["metadata"]["generation"] == generation, step
    d["status"] = {"observedGeneration": 3, "replicas": 3}
    d = api.ok("PUT", f"{path}/gen/status", d)
    assert d["metadata"]["generation"] == 3 and d["status"]["observedGeneration"] == 3


def test_noop_update_keeps_resource_version(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = api.ok("POST", path, cm("noop", labels={"a": "b"}))
    rv = created["metadata"]["resourceVersion"]
    assert api.ok("PUT", f"{path}/noop", created)["metadata"]["resourceVersion"] == rv
    assert api.ok("PATCH", f"{path}/noop", {"data": {"k": "v"}}, content_type=MERGE)["metadata"]["resourceVersion"] == rv
    unconditional = {**created, "metadata": {**created["metadata"]}}
    del unconditional["metadata"]["resourceVersion"]
    assert api.ok("PUT", f"{path}/noop", unconditional)["metadata"]["resourceVersion"] == rv
    changed = api.ok("PATCH", f"{path}/noop", {"data": {"k": "w"}}, content_type=MERGE)
    assert int(changed["metadata"]["resourceVersion"]) > int(rv)


def test_update_keeps_server_owned_metadata(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = api.ok("POST", path, cm("own"))
    body = cm("own", data={"k": "2"}, creationTimestamp="2001-01-01T00:00:00Z")
    updated = api.ok("PUT", f"{path}/own", body)
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["data"] == {"k": "2"}
    # A uid in the body is a precondition, as in kube-apiserver: another uid is a conflict.
    r = api.put(f"{path}/own", cm("own", data={"k": "3"}, uid="forged"))
    assert r.status_code == 409
    assert status_of(r)["message"] == ('Operation cannot be fulfilled on configmaps "own": Precondition failed: '
                                       f'UID in precondition: forged, UID in object meta: {created["metadata"]["uid"]}')


def test_status_subresource_is_split_both_ways(api, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", path, {**deployment("split"), "status": {"replicas": 9}})
    assert "replicas" not in (d.get("status") or {})  # status is not settable on create
    # PUT /status changes only status: spec and labels are ignored.
    d["status"] = {"replicas": 2, "readyReplicas": 1}
    d["spec"]["replicas"] = 7
    d["metadata"]["labels"] = {"sneaky": "yes"}
    s = api.ok("PUT", f"{path}/split/status", d)
    assert s["status"]["replicas"] == 2 and s["status"]["readyReplicas"] == 1
    assert s["spec"]["replicas"] == 2 and "labels" not in s["metadata"]
    # PUT on the main resource changes spec; the status sent is ignored.
    s["status"] = {"replicas": 100}
    s["spec"]["replicas"] = 4
    m = api.ok("PUT", f"{path}/split", s)
    assert m["spec"]["replicas"] == 4 and m["status"]["replicas"] == 2
    # The same split holds for PATCH.
    p = api.ok("PATCH", f"{path}/split/status", {"spec": {"replicas": 1}, "status": {"replicas": 3}},
               content_type=MERGE)
    assert (p["spec"]["replicas"], p["status"]["replicas"]) == (4, 3)
    p = api.ok("PATCH", f"{path}/split", {"status": {"replicas": 50}}, content_type=MERGE)
    assert p["status"]["replicas"] == 3
    got = api.ok("GET", f"{path}/split/status")
    assert got["kind"] == "Deployment" and got["status"]["replicas"] == 3


def test_status_of_a_kind_without_one_is_404(api, ns):
    api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("nostatus"))
    r = api.get(f"/api/v1/namespaces/{ns}/configmaps/nostatus/status")
    assert r.status_code == 404
    status_of(r)


# ---- dry run ------------------------------------------------------------------------------------


def test_dry_run_writes_nothing(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    dry = {"dryRun": "All"}
    r = api.post(path, cm("dry"), params=dry)
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
    assert api.get(f"{path}/dry").status_code == 404
    live = api.ok("POST", path, cm("dry"))
    rv = live["metadata"]["resourceVersion"]
    assert api.post(path, cm("dry"), params=dry).status_code == 409  # still checked against what exists
    r = api.put(f"{path}/dry", {**live, "data": {"k": "put"}}, params=dry)
    assert r.status_code == 200 and r.json()["data"] == {"k": "put"}
    r = api.patch(f"{path}/dry", {"data": {"k": "patch"}}, params=dry)
    assert r.status_code == 200 and r.json()["data"] == {"k": "patch"}
    r = api.delete(f"{path}/dry", params=dry)
    assert r.status_code == 200
    r = api.delete(path, params={**dry, "labelSelector": ""})
    assert r.status_code == 200
    after = api.ok("GET", f"{path}/dry")
    assert after["data"] == {"k": "v"} and after["metadata"]["resourceVersion"] == rv


# ---- delete -------------------------------------------------------------------------------------


def test_finalizers_hold_deletion_until_the_last_is_removed(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("fin", finalizers=["example.com/a", "example.com/b"]))
    r = api.delete(f"{path}/fin")
    assert r.status_code == 200, r.text  # kube-apiserver answers 202 only for orphanDependents=false
    marked = r.json()
    assert marked["kind"] == "ConfigMap" and marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    again = api.delete(f"{path}/fin")  # deleting again changes nothing
    assert again.status_code == 200
    assert again.json()["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    # A finalizer cannot be added once deletion started.
    r = api.patch(f"{path}/fin", {"metadata": {"finalizers": ["example.com/a", "example.com/b", "example.com/c"]}})
    assert r.status_code == 422, r.text
    one = api.ok("PATCH", f"{path}/fin", {"metadata": {"finalizers": ["example.com/b"]}}, content_type=MERGE)
    assert one["metadata"]["finalizers"] == ["example.com/b"]
    api.ok("PATCH", f"{path}/fin", {"metadata": {"finalizers": None}}, content_type=MERGE)
    assert api.get(f"{path}/fin").status_code == 404


def test_orphan_dependents_false_is_answered_202(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("acc", finalizers=["example.com/a"]))
    r = api.delete(f"{path}/acc", {"kind": "DeleteOptions", "apiVersion": "v1", "orphanDependents": False})
    assert r.status_code == 202, r.text
    assert r.json()["metadata"]["deletionTimestamp"]


def test_immediate_delete_returns_a_success_status(api, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", path, deployment("gone"))
    r = api.delete(f"{path}/gone")
    assert r.status_code == 200
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": "gone", "group": "apps", "kind": "deployments",
                                    "uid": d["metadata"]["uid"]}}
    assert api.get(f"{path}/gone").status_code == 404


def test_pod_on_a_node_is_deleted_gracefully_and_unbound_pod_at_once(api, ns):
    path = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", path, pod("unbound"))
    r = api.delete(f"{path}/unbound")
    assert r.status_code == 200 and r.json()["kind"] == "Pod"
    assert api.get(f"{path}/unbound").status_code == 404

    api.ok("POST", path, pod("bound", node="node-1"))
    r = api.delete(f"{path}/bound")
    assert r.status_code == 200
    md = r.json()["metadata"]
    assert md["deletionGracePeriodSeconds"] == 30
    left = (_ts(md["deletionTimestamp"]) - dt.datetime.now(dt.UTC)).total_seconds()
    assert 20 < left <= 31
    assert api.ok("GET", f"{path}/bound")["metadata"]["deletionTimestamp"] == md["deletionTimestamp"]
    # The kubelet's final delete with gracePeriodSeconds=0 removes it.
    r = api.delete(f"{path}/bound", {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0})
    assert r.status_code == 200
    assert api.get(f"{path}/bound").status_code == 404


@pytest.mark.parametrize("policy,finalizer", [("Orphan", "orphan"), ("Foreground", "foregroundDeletion")])
def test_propagation_policy_adds_the_gc_finalizer(api, ns, policy, finalizer):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    name = f"prop-{policy.lower()}"
    api.ok("POST", path, deployment(name))
    r = api.delete(f"{path}/{name}", {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": policy})
    assert r.status_code == 200
    md = r.json()["metadata"]
    assert md["finalizers"] == [finalizer] and md["deletionTimestamp"]
    assert md["generation"] == 2  # marking for deletion bumps generation, as the generic registry does
    api.ok("PATCH", f"{path}/{name}", {"metadata": {"finalizers": []}}, content_type=MERGE)
    assert api.get(f"{path}/{name}").status_code == 404


def test_background_propagation_deletes_at_once(api, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    api.ok("POST", path, deployment("bg"))
    r = api.delete(f"{path}/bg", params={"propagationPolicy": "Background"})
    assert r.status_code == 200 and r.json()["status"] == "Success"
    r = api.delete(f"{path}/bg", params={"propagationPolicy": "Sideways"})
    assert r.status_code in (404, 422)


def test_delete_preconditions(api, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    c = api.ok("POST", path, cm("pre"))
    uid, rv = c["metadata"]["uid"], c["metadata"]["resourceVersion"]
    cases = [
        ({"uid": "0000"}, f"the UID in the precondition (0000) does not match the UID in record ({uid}). "
                          "The object might have been deleted and then recreated"),
        ({"resourceVersion": "1"}, f"the ResourceVersion in the precondition (1) does not match the "
                                   f"ResourceVersion in record ({rv}). The object might have been modified"),
    ]
    for pre, why in cases:
        r = api.delete(f"{path}/pre", {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": pre})
        assert r.status_code == 409, r.text
        status = status_of(r)
        assert status["reason"] == "Conflict"
        assert status["message"] == f'Operation cannot be fulfilled on ConfigMap "pre": {why}'
    assert api.get(f"{path}/pre").status_code == 200
    r = api.delete(f"{path}/pre", {"apiVersion": "v1", "kind": "DeleteOptions",
                                   "preconditions": {"uid": uid, "resourceVersion": rv}})
    assert r.status_code == 200
    assert api.get(f"{path}/pre").status_code == 404


def test_delete_collection_with_a_label_selector(api):
    ns = api.namespace("dc")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(6):
        api.ok("POST", path, cm(f"c{i}", labels={"tier": "a" if i % 2 else "b"}))
    r = api.delete(path, params={"labelSelector": "tier=a"})
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "ConfigMapList"
    assert sorted(o["metadata"]["name"] for o in body["items"]) == ["c1", "c3", "c5"]
    left = api.ok("GET", path)["items"]
    assert sorted(o["metadata"]["name"] for o in left) == ["c0", "c2", "c4"]


# ---- subresources ---------------------------------------------------------------------------------


def test_pod_binding(api, ns):
    path = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", path, pod("tobind"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "tobind"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    r = api.post(f"{path}/tobind/binding", binding)
    assert r.status_code == 201
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    p = api.ok("GET", f"{path}/tobind")
    assert p["spec"]["nodeName"] == "node-a"
    scheduled = [c for c in p["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert len(scheduled) == 1 and scheduled[0]["status"] == "True"
    r = api.post(f"{path}/tobind/binding", {**binding, "target": {"kind": "Node", "name": "node-b"}})
    assert r.status_code == 409
    status = status_of(r)
    assert status["reason"] == "Conflict"
    assert status["message"] == ('Operation cannot be fulfilled on pods/binding "tobind": '
                                 'pod tobind is already assigned to node "node-a"')
    assert api.ok("GET", f"{path}/tobind")["spec"]["nodeName"] == "node-a"
    r = api.post(f"{path}/ghost/binding", {**binding, "metadata": {"name": "ghost"}})
    assert r.status_code == 404


def test_pod_binding_with_another_pods_uid_changes_nothing(api, ns):
    path = f"/api/v1/namespaces/{ns}/pods"
    created = api.ok("POST", path, pod("uidbind"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "uidbind", "uid": "not-this-pod"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    r = api.post(f"{path}/uidbind/binding", binding)
    assert r.status_code == 409
    assert status_of(r)["message"] == (
        'Operation cannot be fulfilled on pods/binding "uidbind": Precondition failed: UID in precondition: '
        f'not-this-pod, UID in object meta: {created["metadata"]["uid"]}')
    assert not api.ok("GET", f"{path}/uidbind")["spec"].get("nodeName")
    binding["metadata"]["uid"] = created["metadata"]["uid"]
    assert api.post(f"{path}/uidbind/binding", binding).status_code == 201


def test_scale_subresource(api, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", path, deployment("sc", replicas=2))
    scale = api.ok("GET", f"{path}/sc/scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=sc"}
    assert scale["metadata"]["uid"] == d["metadata"]["uid"]
    assert scale["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]

    scale["spec"]["replicas"] = 5
    put = api.ok("PUT", f"{path}/sc/scale", scale)
    assert put["spec"]["replicas"] == 5
    stale = api.put(f"{path}/sc/scale", scale)  # the same resourceVersion again
    assert stale.status_code == 409
    patched = api.ok("PATCH", f"{path}/sc/scale", {"spec": {"replicas": 1}}, content_type=MERGE)
    assert patched["spec"]["replicas"] == 1
    dep = api.ok("GET", f"{path}/sc")
    assert dep["spec"]["replicas"] == 1 and dep["metadata"]["generation"] == 3
    assert patched["metadata"]["resourceVersion"] == dep["metadata"]["resourceVersion"]
    r = api.patch(f"{path}/sc/scale", {"spec": {"replicas": -1}})
    assert r.status_code == 422
    assert status_of(r)["reason"] == "Invalid"


def test_namespace_termination_and_finalize(api):
    name = api.namespace("term")
    api.ok("POST", f"/api/v1/namespaces/{name}/configmaps", cm("inside"))
    r = api.delete(f"/api/v1/namespaces/{name}")
    assert r.status_code == 200, r.text
    ns_obj = r.json()
    assert ns_obj["kind"] == "Namespace"
    assert ns_obj["status"]["phase"] == "Terminating"
    assert ns_obj["spec"]["finalizers"] == ["kubernetes"]
    assert ns_obj["metadata"]["deletionTimestamp"]
    r = api.post(f"/api/v1/namespaces/{name}/configmaps", cm("late"))
    assert r.status_code == 403
    status = status_of(r)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (f'configmaps "late" is forbidden: unable to create new content in namespace '
                                 f"{name} because it is being terminated")
    assert status["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    # Updates of what is already inside are still allowed (the namespace controller deletes it).
    api.ok("PATCH", f"/api/v1/namespaces/{name}/configmaps/inside", {"data": {"k": "2"}}, content_type=MERGE)
    api.ok("DELETE", f"/api/v1/namespaces/{name}/configmaps/inside")
    fin = {**ns_obj, "spec": {"finalizers": []}}
    r = api.put(f"/api/v1/namespaces/{name}/finalize", fin)
    assert r.status_code == 200, r.text
    assert api.get(f"/api/v1/namespaces/{name}").status_code == 404


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_cannot_be_deleted(api, name):
    r = api.delete(f"/api/v1/namespaces/{name}")
    status = status_of(r)
    assert r.status_code == 403 and status["reason"] == "Forbidden"
    assert status["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    assert "deletionTimestamp" not in api.ok("GET", f"/api/v1/namespaces/{name}")["metadata"]


def test_status_write_may_change_annotations_but_not_labels(api, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    api.ok("POST", path, deployment("annot"))
    d = api.ok("GET", f"{path}/annot")
    d["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    d["metadata"]["labels"] = {"changed": "yes"}
    d["status"] = {"observedGeneration": 1}
    out = api.ok("PUT", f"{path}/annot/status", d)
    assert out["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert out["metadata"].get("labels") != {"changed": "yes"}
    assert out["status"]["observedGeneration"] == 1


def test_priority_admission_and_default_tolerations(api, ns):
    classes = {pc["metadata"]["name"]: pc for pc in api.ok("GET", "/apis/scheduling.k8s.io/v1/priorityclasses")["items"]}
    assert classes["system-node-critical"]["value"] == 2000001000
    assert classes["system-cluster-critical"]["preemptionPolicy"] == "PreemptLowerPriority"
    api.ok("POST", "/apis/scheduling.k8s.io/v1/priorityclasses",
           {"metadata": {"name": f"{ns}-high"}, "value": 1000, "preemptionPolicy": "Never"})
    path = f"/api/v1/namespaces/{ns}/pods"
    plain = api.ok("POST", path, pod("plain"))["spec"]
    assert (plain["priority"], plain["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert {(t["key"], t["effect"], t["tolerationSeconds"]) for t in plain["tolerations"]} == {
        ("node.kubernetes.io/not-ready", "NoExecute", 300), ("node.kubernetes.io/unreachable", "NoExecute", 300)}
    body = pod("high")
    body["spec"]["priorityClassName"] = f"{ns}-high"
    high = api.ok("POST", path, body)["spec"]
    assert (high["priority"], high["preemptionPolicy"]) == (1000, "Never")
    body = pod("nope")
    body["spec"]["priorityClassName"] = "no-such-class"
    r = api.post(path, body)
    assert r.status_code == 403
    assert status_of(r)["message"] == 'pods "nope" is forbidden: no PriorityClass with name no-such-class was found'
    r = api.post("/apis/scheduling.k8s.io/v1/priorityclasses", {"metadata": {"name": "too-high"}, "value": 2 ** 31 - 1})
    assert r.status_code == 422


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_that_arrives_in_pieces_is_read_whole(api, ns, framing):
    """The server reads a request body to its end, however many TCP segments it comes in."""
    name = f"pieces-{framing}"
    body = orjson.dumps(cm(name, {"k": "v" * 20000}))
    url = urllib.parse.urlsplit(api.base)
    tls = ssl.create_default_context(cafile=api.session.verify)
    tls.load_cert_chain(*api.session.cert)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=tls, timeout=10)
    conn.putrequest("POST", f"/api/v1/namespaces/{ns}/configmaps")
    conn.putheader("Content-Type", "application/json")
    if framing == "content-length":
        conn.putheader("Content-Length", str(len(body)))
    else:
        conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(body), 4000):
        piece = body[i:i + 4000]
        conn.send(piece if framing == "content-length" else b"%x\r\n%s\r\n" % (len(piece), piece))
        time.sleep(0.05)
    if framing == "chunked":
        conn.send(b"0\r\n\r\n")
    answer = conn.getresponse()
    created = orjson.loads(answer.read())
    conn.close()
    assert answer.status == 201, created
    assert created["data"]["k"] == "v" * 20000
