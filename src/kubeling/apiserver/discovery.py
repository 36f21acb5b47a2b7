"""Discovery documents, generated from the resource table.

Two forms, as Kubernetes serves them:
- legacy: APIVersions (/api), APIGroupList (/apis), APIGroup (/apis/G) and
  APIResourceList (/api/v1, /apis/G/V), with subresources as `pods/status` entries;
- aggregated: APIGroupDiscoveryList (apidiscovery.k8s.io v2 or v2beta1) on /api and
  /apis, picked by the Accept header (see `negotiate_discovery`).

All functions are pure and return JSON-ready dicts; routing is done elsewhere.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from kubeling.api.registry import (
    SUBRESOURCE_KINDS,
    SUBRESOURCE_VERBS,
    ResourceType,
    group_versions,
    resources_in,
)

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"
# Newest first: the order we prefer when a client offers both at the same weight.
AGGREGATED_VERSIONS = ("v2", "v2beta1")
LEGACY_CONTENT_TYPE = "application/json"

# Kinds stored in another group than the one they are served from: their storage
# version hash is that of the stored kind (events.k8s.io Events are core Events).
_STORAGE_KIND = {("events.k8s.io", "v1", "Event"): ("", "v1", "Event")}


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Kubernetes' hash: base64 of the first 8 bytes of sha256("group/version/kind")."""
    group, version, kind = _STORAGE_KIND.get((group, version, kind), (group, version, kind))
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def subresource_kind(resource: ResourceType, sub: str) -> tuple[str, str, str]:
    """(group, version, kind) answered by `resource/sub`."""
    if sub == "proxy":
        # NodeProxyOptions, ServiceProxyOptions, PodProxyOptions: named after the parent.
        return ("", "v1", f"{resource.kind}ProxyOptions")
    return SUBRESOURCE_KINDS.get(sub, (resource.group, resource.version, resource.kind))


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _gv_for_discovery(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": _group_version(group, version), "version": version}


# ---------------------------------------------------------------- legacy


def api_versions(server_address: str = "") -> dict[str, Any]:
    """`/api`: the core group's versions (kind APIVersions)."""
    return {
        "kind": "APIVersions",
        "versions": list(group_versions().get("", [])),
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group: str) -> dict[str, Any] | None:
    """`/apis/<group>`: one APIGroup, or None when the group is not served."""
    versions = group_versions().get(group) if group else None
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group_body(group, versions)}


def _api_group_body(group: str, versions: list[str]) -> dict[str, Any]:
    return {
        "name": group,
        "versions": [_gv_for_discovery(group, v) for v in versions],
        # The registry lists versions in preference order.
        "preferredVersion": _gv_for_discovery(group, versions[0]),
    }


def api_group_list() -> dict[str, Any]:
    """`/apis`: every named group (kind APIGroupList)."""
    groups = [_api_group_body(g, vs) for g, vs in group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _legacy_resource(r: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    entry["storageVersionHash"] = storage_version_hash(r.group, r.version, r.kind)
    return entry


def _legacy_subresource(r: ResourceType, sub: str) -> dict[str, Any]:
    group, version, kind = subresource_kind(r, sub)
    entry: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced}
    # group/version appear only when they differ from the list's (deployments/scale).
    if (group, version) != (r.group, r.version):
        entry["group"] = group
        entry["version"] = version
    entry["kind"] = kind
    entry["verbs"] = list(SUBRESOURCE_VERBS[sub])
    return entry


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """`/api/v1` or `/apis/G/V` (kind APIResourceList), or None when not served."""
    resources = resources_in(group, version)
    if not resources:
        return None
    entries: list[dict[str, Any]] = []
    for r in resources:
        entries.append(_legacy_resource(r))
        entries.extend(_legacy_subresource(r, sub) for sub in r.subresources)
    entries.sort(key=lambda e: e["name"])
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": _group_version(group, version),
        "resources": entries,
    }


# ------------------------------------------------------------ aggregated


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(r: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": _gvk(r.group, r.version, r.kind),
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {"subresource": sub, "responseKind": _gvk(*subresource_kind(r, sub)),
             "verbs": list(SUBRESOURCE_VERBS[sub])}
            for sub in sorted(r.subresources)
        ]
    return entry


def _aggregated_group(group: str, versions: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": group} if group else {},
        "versions": [
            {
                "version": v,
                "resources": [_aggregated_resource(r)
                              for r in sorted(resources_in(group, v), key=lambda r: r.plural)],
                "freshness": "Current",
            }
            for v in versions
        ],
    }


@functools.cache
def aggregated(core: bool, version: str = "v2") -> dict[str, Any]:
    """APIGroupDiscoveryList for `/api` (core=True) or `/apis` (core=False).

    `version` is the apidiscovery.k8s.io version the client negotiated; v2 and v2beta1
    carry the same fields. Cached: treat the result as read-only.
    """
    if version not in AGGREGATED_VERSIONS:
        raise ValueError(f"unsupported aggregated discovery version {version!r}")
    items = [_aggregated_group(g, vs) for g, vs in group_versions().items() if (g == "") == core]
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{AGGREGATED_GROUP}/{version}",
        "metadata": {},
        "items": items,
    }


# ----------------------------------------------------------- negotiation


def aggregated_content_type(version: str) -> str:
    return f"application/json;g={AGGREGATED_GROUP};v={version};as={AGGREGATED_KIND}"


def _parse_accept(header: str) -> list[tuple[str, dict[str, str]]]:
    """Media ranges with their parameters, highest q first (stable for equal q)."""
    clauses: list[tuple[float, int, str, dict[str, str]]] = []
    for index, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for f in fields[1:]:
            key, _, value = f.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if q > 0:
            clauses.append((-q, index, media, params))
    clauses.sort(key=lambda c: (c[0], c[1]))
    return [(media, params) for _, _, media, params in clauses]


def negotiate_discovery(accept_header: str) -> tuple[str | None, str]:
    """Pick the discovery form for `/api` or `/apis` from an Accept header.

    Returns (aggregated version or None for legacy, Content-Type to answer with).
    Only a version the client names is answered: kubectl 1.27-1.29 offer v2beta1 alone
    and cannot read v2. Protobuf ranges are skipped (we answer JSON only).
    """
    for media, params in _parse_accept(accept_header or ""):
        if media not in ("application/json", "application/*", "*/*"):
            continue
        if params.get("g") == AGGREGATED_GROUP and params.get("as") == AGGREGATED_KIND:
            if media == "application/json" and params.get("v") in AGGREGATED_VERSIONS:
                return params["v"], aggregated_content_type(params["v"])
            continue
        if not params.get("as"):
            return None, LEGACY_CONTENT_TYPE
    return None, LEGACY_CONTENT_TYPE
