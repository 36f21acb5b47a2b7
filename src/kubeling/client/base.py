"""What every kubeling component needs from the API server, whatever carries it.

Two implementations share this interface:
- `rest.RestClient`: HTTPS to any Kubernetes-compatible API server (kubeconfig auth);
- `local.LocalClient`: calls a kubeling API server's storage layer in the same process
  (same validation, defaulting and errors, no HTTP), used by unit tests.

Objects are plain dicts, exactly as on the wire. Failures raise `kubeling.api.errors.ApiError`
carrying the server's metav1.Status (code, reason, message, details).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from kubeling.api.meta import json_copy  # noqa: F401 (the clients' copy of what they read)
from kubeling.api.registry import ResourceType

Obj = dict[str, Any]

# Patch types, by the short names kubectl uses for --type.
PATCH_CONTENT_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


def object_key(obj: Obj) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc)."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md.get('name', '')}" if ns else md.get("name", "")


def split_key(key: str) -> tuple[str | None, str]:
    """The (namespace, name) of a key made by object_key."""
    if "/" in key:
        ns, name = key.split("/", 1)
        return ns, name
    return None, key


def resource_path(rt: ResourceType, namespace: str | None = None, name: str | None = None,
                  subresource: str = "") -> str:
    """The URL path of a collection, an object, or an object's subresource."""
    path = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{rt.plural}"
    if name:
        path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
    return path


class WatchEvent(dict):
    """`{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": {...}}`."""

    @property
    def type(self) -> str:
        return self["type"]

    @property
    def object(self) -> Obj:
        return self["object"]


class Client(Protocol):
    async def get(self, rt: ResourceType, namespace: str | None, name: str, *, subresource: str = "") -> Obj: ...

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> Obj:
        """A List object: {"kind": "...List", "metadata": {"resourceVersion", "continue"}, "items": [...]}."""

    async def create(self, rt: ResourceType, namespace: str | None, obj: Obj, *, subresource: str = "",
                     name: str = "", dry_run: bool = False) -> Obj:
        """POST. With subresource (e.g. pods/binding) `name` names the parent object."""

    async def update(self, rt: ResourceType, obj: Obj, *, subresource: str = "", dry_run: bool = False) -> Obj:
        """PUT of obj (namespace and name from its metadata); a stale resourceVersion is a 409."""

    async def patch(self, rt: ResourceType, namespace: str | None, name: str, patch: Any, *,
                    patch_type: str = "merge", subresource: str = "", dry_run: bool = False) -> Obj:
        """PATCH with patch_type "merge", "strategic" or "json" (patch: a dict or, for json, a list)."""

    async def delete(self, rt: ResourceType, namespace: str | None, name: str, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: Obj | None = None, dry_run: bool = False) -> Obj: ...

    def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str = "",
              label_selector: str = "", field_selector: str = "", timeout_seconds: int = 0,
              allow_bookmarks: bool = True) -> AsyncIterator[WatchEvent]:
        """One watch stream: the server's events, in order, until it ends (timeout, server
        closing). A too-old resourceVersion arrives as an ERROR event holding a 410 Status.
        Resuming and relisting are the informer's job, not this method's."""

    async def close(self) -> None: ...
