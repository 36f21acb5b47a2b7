"""Discovery documents: every registry resource in every form, as kubectl reads them."""

from __future__ import annotations

import pytest

from kubeling.api.registry import RESOURCES, SUBRESOURCE_VERBS, group_versions
from kubeling.apiserver import discovery

V2_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
             "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
V2BETA1_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
CT = "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList"


def _ids(r):
    return f"{r.group or 'core'}/{r.version}/{r.plural}"


def _legacy_entries(group, version):
    return {e["name"]: e for e in discovery.api_resource_list(group, version)["resources"]}


def _aggregated_entry(r, version="v2"):
    doc = discovery.aggregated(r.group == "", version)
    [item] = [i for i in doc["items"] if i["metadata"].get("name", "") == r.group]
    [ver] = [v for v in item["versions"] if v["version"] == r.version]
    [entry] = [e for e in ver["resources"] if e["resource"] == r.plural]
    return entry


# ------------------------------------------------------------------ legacy


def test_api_versions_lists_core_version_and_server_address():
    doc = discovery.api_versions("10.0.0.1:6443")
    assert doc["kind"] == "APIVersions"
    assert doc["versions"] == ["v1"]
    assert doc["serverAddressByClientCIDRs"] == [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]


def test_api_group_list_has_every_named_group_with_preferred_version():
    doc = discovery.api_group_list()
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    groups = {g["name"]: g for g in doc["groups"]}
    assert set(groups) == {g for g in group_versions() if g}
    assert groups["apps"]["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}


@pytest.mark.parametrize("group, expected", [("apps", "apps/v1"), ("batch", "batch/v1"),
                                             ("nosuch.io", None), ("", None)])
def test_api_group(group, expected):
    doc = discovery.api_group(group)
    if expected is None:
        assert doc is None
    else:
        assert doc["kind"] == "APIGroup" and doc["preferredVersion"]["groupVersion"] == expected


def test_api_resource_list_unknown_group_version_is_none():
    assert discovery.api_resource_list("apps", "v9") is None
    assert discovery.api_resource_list("nosuch.io", "v1") is None


@pytest.mark.parametrize("r", RESOURCES, ids=_ids)
def test_legacy_resource_entry(r):
    doc = discovery.api_resource_list(r.group, r.version)
    assert doc["groupVersion"] == r.api_version
    entry = _legacy_entries(r.group, r.version)[r.plural]
    assert entry["kind"] == r.kind
    assert entry["singularName"] == r.singular
    assert entry["namespaced"] is r.namespaced
    assert entry["verbs"] == list(r.verbs)
    assert entry.get("shortNames", []) == list(r.short_names)
    assert entry.get("categories", []) == list(r.categories)
    assert len(entry["storageVersionHash"]) == 12  # base64 of 8 bytes


@pytest.mark.parametrize("r", [r for r in RESOURCES if r.subresources], ids=_ids)
def test_legacy_subresource_entries(r):
    entries = _legacy_entries(r.group, r.version)
    for sub in r.subresources:
        entry = entries[f"{r.plural}/{sub}"]
        assert entry["verbs"] == list(SUBRESOURCE_VERBS[sub])
        assert entry["namespaced"] is r.namespaced
        assert entry["singularName"] == ""


@pytest.mark.parametrize("name, group, version, kind", [
    ("deployments/scale", "autoscaling", "v1", "Scale"),
    ("statefulsets/scale", "autoscaling", "v1", "Scale"),
    ("deployments/status", None, None, "Deployment"),
])
def test_legacy_apps_subresource_kinds(name, group, version, kind):
    entry = _legacy_entries("apps", "v1")[name]
    assert (entry.get("group"), entry.get("version"), entry["kind"]) == (group, version, kind)


@pytest.mark.parametrize("name, group, kind", [
    ("pods/log", None, "Pod"),
    ("pods/binding", None, "Binding"),
    ("pods/exec", None, "PodExecOptions"),
    ("pods/eviction", "policy", "Eviction"),
    ("nodes/proxy", None, "NodeProxyOptions"),
    ("services/proxy", None, "ServiceProxyOptions"),
    ("namespaces/finalize", None, "Namespace"),
])
def test_legacy_core_subresource_kinds(name, group, kind):
    entry = _legacy_entries("", "v1")[name]
    assert (entry.get("group"), entry["kind"]) == (group, kind)


def test_legacy_entries_are_sorted_by_name():
    names = [e["name"] for e in discovery.api_resource_list("", "v1")["resources"]]
    assert names == sorted(names)


@pytest.mark.parametrize("group, version, kind, expected", [
    # Values a real kube-apiserver publishes.
    ("", "v1", "Pod", "xPOwRZ+Yhw8="),
    ("apps", "v1", "Deployment", "8aSe+NMegvE="),
    ("", "v1", "Event", "r2yiGXH7wu8="),
    ("events.k8s.io", "v1", "Event", "r2yiGXH7wu8="),  # stored as core Events
])
def test_storage_version_hash_matches_kubernetes(group, version, kind, expected):
    assert discovery.storage_version_hash(group, version, kind) == expected


# -------------------------------------------------------------- aggregated


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
@pytest.mark.parametrize("core", [True, False])
def test_aggregated_envelope(core, version):
    doc = discovery.aggregated(core, version)
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    names = [i["metadata"].get("name", "") for i in doc["items"]]
    if core:
        assert names == [""]
    else:
        assert names == [g for g in group_versions() if g]
    for item in doc["items"]:
        assert all(v["freshness"] == "Current" for v in item["versions"])


def test_aggregated_rejects_unknown_version():
    with pytest.raises(ValueError):
        discovery.aggregated(True, "v3")


def test_aggregated_v2_and_v2beta1_differ_only_in_api_version():
    for core in (True, False):
        v2, beta = discovery.aggregated(core, "v2"), discovery.aggregated(core, "v2beta1")
        assert {**v2, "apiVersion": None} == {**beta, "apiVersion": None}


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
@pytest.mark.parametrize("r", RESOURCES, ids=_ids)
def test_aggregated_resource_entry(r, version):
    entry = _aggregated_entry(r, version)
    assert entry["responseKind"] == {"group": r.group, "version": r.version, "kind": r.kind}
    assert entry["scope"] == ("Namespaced" if r.namespaced else "Cluster")
    assert entry["singularResource"] == r.singular
    assert entry["verbs"] == list(r.verbs)
    assert entry.get("shortNames", []) == list(r.short_names)
    assert entry.get("categories", []) == list(r.categories)
    subs = {s["subresource"]: s for s in entry.get("subresources", [])}
    assert set(subs) == set(r.subresources)
    for name, sub in subs.items():
        assert sub["verbs"] == list(SUBRESOURCE_VERBS[name])
        assert set(sub["responseKind"]) == {"group", "version", "kind"}


def test_aggregated_scale_subresource_answers_autoscaling_scale():
    [deploy] = [r for r in RESOURCES if r.plural == "deployments"]
    subs = {s["subresource"]: s for s in _aggregated_entry(deploy)["subresources"]}
    assert subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert subs["status"]["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}


def test_aggregated_short_names_and_all_category():
    [pods] = [r for r in RESOURCES if r.plural == "pods"]
    entry = _aggregated_entry(pods)
    assert entry["shortNames"] == ["po"] and entry["categories"] == ["all"]


# ------------------------------------------------------------- negotiation


@pytest.mark.parametrize("accept, version", [
    (V2_ACCEPT, "v2"),                                  # kubectl 1.30+
    (V2BETA1_ACCEPT, "v2beta1"),                        # kubectl 1.27-1.29: never answer v2
    ("application/json", None),
    ("", None),
    ("*/*", None),
    ("application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    (("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,"
     "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"), "v2beta1"),
    (("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json"), None),
    ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", None),
    ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", "v2"),
])
def test_negotiate_discovery(accept, version):
    got, content_type = discovery.negotiate_discovery(accept)
    assert got == version
    assert content_type == (CT.format(version) if version else "application/json")


def test_negotiated_content_type_is_exact():
    assert discovery.negotiate_discovery(V2_ACCEPT)[1] == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
