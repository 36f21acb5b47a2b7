"""The index lookups and copies the workload controllers' syncs are built on: each must give
exactly what a scan of the namespace (or copy.deepcopy) would."""

from __future__ import annotations

import copy

import pytest

from kubeling.api.selectors import LabelSelector
from kubeling.client.base import json_copy
from kubeling.client.cache import Indexer
from kubeling.controllers import podutil
from kubeling.controllers.replicaset import pod_from_template, shared_pod_body


def ref(uid: str, controller: bool = True) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": uid, "uid": uid, "controller": controller}


def pod(name: str, ns: str = "a", labels: dict | None = None, refs: list | None = None) -> dict:
    md = {"name": name, "namespace": ns, "uid": f"{ns}-{name}", "labels": labels or {}}
    if refs is not None:
        md["ownerReferences"] = refs
    return {"metadata": md}


POPULATION = [
    pod("mine", refs=[ref("rs1")]),
    pod("mine-other-ns", ns="b", refs=[ref("rs1")]),  # an owner uid is no namespace
    pod("theirs", refs=[ref("rs2")]),
    pod("orphan", labels={"app": "web"}),
    pod("orphan-b", ns="b"),
    pod("owner-not-controller", refs=[ref("rs1", controller=False)]),  # no controller: an orphan
    pod("controller-without-uid", refs=[{"kind": "ReplicaSet", "name": "x", "controller": True}]),
]


def indexer(objects=POPULATION) -> Indexer:
    ix = Indexer()
    podutil.add_claim_indexers(ix)
    podutil.add_claim_indexers(ix)  # twice is harmless
    for obj in objects:
        ix.upsert(copy.deepcopy(obj))
    return ix


def scan(ix: Indexer, ns: str, owner_uid: str) -> set[str]:
    """The old way: every pod of the namespace, less those another controller owns."""
    names = set()
    for obj in ix.by_index("namespace", ns):
        ref_ = podutil.get_controller_of(obj)
        if ref_ is None or ref_.get("uid") == owner_uid:
            names.add(obj["metadata"]["name"])
    return names


@pytest.mark.parametrize("ns,owner,want", [
    ("a", "rs1", {"mine", "orphan", "owner-not-controller"}),
    ("a", "rs2", {"theirs", "orphan", "owner-not-controller"}),
    ("b", "rs1", {"mine-other-ns", "orphan-b"}),
    ("c", "rs1", set()),
])
def test_owned_or_orphaned_equals_a_namespace_scan(ns, owner, want):
    ix = indexer()
    got = {o["metadata"]["name"] for o in podutil.owned_or_orphaned(ix, ns, owner)}
    assert got == want == scan(ix, ns, owner)


def test_orphan_index_follows_adoption_and_release():
    ix = indexer()
    adopted = pod("orphan", labels={"app": "web"}, refs=[ref("rs1")])
    ix.upsert(adopted)
    assert "orphan" not in {o["metadata"]["name"] for o in ix.by_index(podutil.ORPHAN_INDEX, "a")}
    assert "orphan" in {o["metadata"]["name"] for o in podutil.owned_or_orphaned(ix, "a", "rs1")}
    ix.upsert(pod("orphan", labels={"app": "web"}, refs=[]))  # released
    assert "orphan" in {o["metadata"]["name"] for o in ix.by_index(podutil.ORPHAN_INDEX, "a")}
    ix.remove("a/orphan")
    assert ix.count_by_index(podutil.ORPHAN_INDEX, "a") == 1  # owner-not-controller is left


SELECTORS = [
    {"matchLabels": {"app": "web"}},
    {"matchLabels": {"app": "web", "tier": "fe"}},
    {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
    {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]},
    {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
    {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]},
    {},  # everything
    None,  # nothing
]
LABEL_SETS = [None, {}, {"app": "web"}, {"app": "web", "tier": "fe"}, {"app": "web", "tier": "be", "x": "y"},
              {"app": "api", "tier": "fe"}, {"tier": "fe"}]


@pytest.mark.parametrize("selector", SELECTORS)
def test_label_matcher_agrees_with_the_selector(selector):
    sel = LabelSelector.from_dict(selector)
    fast = podutil.label_matcher(sel)
    assert [fast(labels) for labels in LABEL_SETS] == [sel.matches(labels) for labels in LABEL_SETS]


@pytest.mark.parametrize("selector", SELECTORS)
def test_matching_equals_a_namespace_scan(selector):
    objects = [pod(f"p{i}", ns=ns, labels=labels) for i, labels in enumerate(LABEL_SETS) for ns in ("a", "b")]
    objects += [pod(f"q{i}", labels={"app": "web", "n": str(i)}) for i in range(5)]  # a crowded label
    ix = indexer(objects)
    sel = LabelSelector.from_dict(selector)
    want = {o["metadata"]["name"] for o in ix.by_index("namespace", "a") if sel.matches(o["metadata"]["labels"])}
    assert {o["metadata"]["name"] for o in podutil.matching(ix, "a", sel)} == want


def test_cache_index_helpers():
    ix = indexer()
    assert ix.has_index(podutil.CONTROLLER_UID_INDEX) and ix.has_index("label")
    assert not ix.has_index("nodeName")
    assert ix.count_by_index(podutil.CONTROLLER_UID_INDEX, "rs1") == 2
    assert ix.count_by_index("label", "app=web") == 1
    assert ix.count_by_index("label", "app=nothing") == 0


@pytest.mark.parametrize("value", [
    {"a": [1, 2.5, None, True, "x"], "b": {"c": {}}},
    {"big": 2**70},  # beyond what orjson writes: falls back to copy.deepcopy
    {1: "non-string key"},
])
def test_json_copy_is_an_equal_independent_copy(value):
    copied = json_copy(value)
    assert copied == value
    assert copied is not value
    for k, v in value.items():
        if isinstance(v, (dict, list)):
            assert copied[k] is not v


def test_pod_from_template_shares_nothing_and_shared_body_shares_the_spec():
    template = {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}
    parent = {"metadata": {"name": "web-abc", "uid": "u"}}
    controller_ref = ref("u")
    pod_ = pod_from_template(template, parent, controller_ref)
    shared = shared_pod_body(template, parent, controller_ref)
    assert pod_ == shared
    assert pod_["metadata"]["generateName"] == "web-abc-"
    assert pod_["metadata"]["ownerReferences"] == [controller_ref]
    assert pod_["spec"] is not template["spec"] and pod_["metadata"]["ownerReferences"][0] is not controller_ref
    assert shared["spec"] is template["spec"]
    assert shared["metadata"]["labels"] is not template["metadata"]["labels"]
