"""The namespace controller: empties a namespace being deleted, then releases it
(pkg/controller/namespace and its deletion package).

A namespace deleted by a client keeps `kubernetes` in spec.finalizers and stays Terminating.
This controller deletes every namespaced object in it (Background propagation), reports progress
in the namespace's status conditions, looks again while content remains, and finally removes its
finalizer through the `finalize` subresource, after which the API server removes the namespace.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.meta import parse_time, rfc3339
from kubeling.api.registry import ResourceType
from kubeling.client.base import Client, Obj, object_key
from kubeling.client.clock import REAL, Clock
from kubeling.client.controller import Controller
from kubeling.client.informer import InformerFactory
from kubeling.client.workqueue import WorkQueue

log = logging.getLogger("kubeling.controllers.namespace")

NAMESPACES = registry.lookup("", "v1", "namespaces")
PODS = registry.lookup("", "v1", "pods")
FINALIZER_TOKEN = "kubernetes"  # v1.FinalizerKubernetes
# Lets every API server see the deletion, and last-moment creations land, before cleaning up.
DELETION_GRACE_PERIOD = 5.0
# When remaining items carry finalizers, assume this long for them to finish.
FINALIZER_ESTIMATE_SECONDS = 15
MAX_RETRY_DELAY = 60.0  # retry a failing namespace at least every minute
DEFAULT_WORKERS = 10  # kube-controller-manager's --concurrent-namespace-syncs

# The condition types the deleter maintains, in the order Kubernetes writes them.
DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GV_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONDITION_TYPES = (DISCOVERY_FAILURE, GV_PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING, FINALIZERS_REMAINING)
OK_REASONS = {
    DISCOVERY_FAILURE: "ResourcesDiscovered",
    GV_PARSING_FAILURE: "ParsedGroupVersions",
    CONTENT_FAILURE: "ContentDeleted",
    CONTENT_REMAINING: "ContentRemoved",
    FINALIZERS_REMAINING: "ContentHasNoFinalizers",
}
OK_MESSAGES = {
    DISCOVERY_FAILURE: "All resources successfully discovered",
    GV_PARSING_FAILURE: "All legacy kube types successfully parsed",
    CONTENT_FAILURE: "All content successfully deleted, may be waiting on finalization",
    CONTENT_REMAINING: "All content successfully removed",
    FINALIZERS_REMAINING: "All content-preserving finalizers finished",
}


class ResourcesRemainingError(Exception):
    """Content is still going away: look again in about `estimate` seconds."""

    def __init__(self, estimate: int):
        super().__init__(f"some content remains in the namespace, estimate {estimate} seconds before it is removed")
        self.estimate = estimate


class ContentDeletionError(Exception):
    """Some resource types could not be emptied (the aggregate of their errors)."""


@dataclass
class ResourceDeletion:
    """What deleting one resource type's content left behind (gvrDeletionMetadata)."""

    estimate: int = 0  # seconds to wait; 0 does not by itself mean that nothing remains
    remaining: int = 0
    finalizers: Counter = field(default_factory=Counter)


def gvr_string(rt: ResourceType) -> str:
    """GroupVersionResource.String(): `apps/v1, Resource=deployments`, `/v1, Resource=pods`."""
    return f"{rt.group}/{rt.version}, Resource={rt.plural}"


def group_resource(rt: ResourceType) -> str:
    """`resource.group` as the conditions name it: `deployments.apps`, `pods.`."""
    return f"{rt.plural}.{rt.group}"


def deletable_resources() -> list[ResourceType]:
    """Every namespaced resource type that can be listed and deleted (discovery, in-process)."""
    return [rt for rt in registry.RESOURCES if rt.namespaced and {"delete", "list"} <= set(rt.verbs)]


class ConditionUpdater:
    """Turns one deletion pass's findings into the namespace's status conditions."""

    def __init__(self, now: str):
        self.now = now
        self.new: dict[str, Obj] = {}
        self.content_errors: list[str] = []

    def _condition(self, type_: str, reason: str, message: str) -> None:
        self.new[type_] = {"type": type_, "status": "True", "lastTransitionTime": self.now,
                           "reason": reason, "message": message}

    def content_error(self, message: str) -> None:
        self.content_errors.append(message)

    def content_totals(self, by_resource: dict[str, int], by_finalizer: Counter) -> None:
        """by_resource: remaining counts by `resource.group` (group_resource())."""
        resources = sorted(f"{gr} has {n} resource instances" for gr, n in by_resource.items() if n)
        if by_resource:
            self._condition(CONTENT_REMAINING, "SomeResourcesRemain",
                            f"Some resources are remaining: {', '.join(resources)}")
        finalizers = sorted(f"{f} in {n} resource instances" for f, n in by_finalizer.items() if n)
        if by_finalizer:
            self._condition(FINALIZERS_REMAINING, "SomeFinalizersRemain",
                            f"Some content in the namespace has finalizers remaining: {', '.join(finalizers)}")

    def update(self, ns: Obj) -> bool:
        """Apply the conditions to ns (in place); True when anything changed."""
        if CONTENT_FAILURE not in self.new and self.content_errors:
            msgs = sorted(self.content_errors)
            self._condition(CONTENT_FAILURE, "ContentDeletionFailed",
                            f"Failed to delete all resource types, {len(msgs)} remaining: {', '.join(msgs)}")
        conditions = ns.setdefault("status", {}).setdefault("conditions", [])
        changed = False
        for type_ in CONDITION_TYPES:
            new = self.new.get(type_) or {"type": type_, "status": "False", "lastTransitionTime": self.now,
                                          "reason": OK_REASONS[type_], "message": OK_MESSAGES[type_]}
            old = next((c for c in conditions if c.get("type") == type_), None)
            if old is None:
                conditions.append(new)
                changed = True
            elif any(old.get(k) != new[k] for k in ("status", "reason", "message")):
                if old.get("status") != new["status"]:
                    old["lastTransitionTime"] = self.now
                old.update({k: new[k] for k in ("status", "reason", "message")})
                changed = True
        return changed


def _aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate's wording: one message alone, several in brackets."""
    return messages[0] if len(messages) == 1 else f"[{', '.join(messages)}]"


class NamespaceController(Controller):
    name = "namespace-controller"

    def __init__(self, client: Client, factory: InformerFactory, recorder: Any, *, clock: Clock = REAL,
                 workers: int = DEFAULT_WORKERS, deletion_grace_period: float = DELETION_GRACE_PERIOD):
        super().__init__(workers=workers, clock=clock)
        self.queue = WorkQueue("namespace", clock=clock, max_delay=MAX_RETRY_DELAY)
        self.client = client
        self.recorder = recorder  # Kubernetes' namespace controller records no events
        self.deletion_grace_period = deletion_grace_period
        self.informer = factory.informer(NAMESPACES)
        self.informer.add_handler(on_add=self._enqueue_namespace,
                                  on_update=lambda old, new: self._enqueue_namespace(new))

    def _enqueue_namespace(self, ns: Obj) -> None:
        if not (ns.get("metadata") or {}).get("deletionTimestamp"):
            return
        self.queue.add_after(object_key(ns), self.deletion_grace_period)

    async def reconcile(self, key: str) -> float | None:
        if self.informer.indexer.get(key) is None:
            log.info("namespace %s has been deleted", key)
            return None
        try:
            await self.delete(key)
        except ResourcesRemainingError as e:
            wait = e.estimate // 2 + 1
            log.debug("content remaining in namespace %s, looking again in %ss", key, wait)
            return float(wait)
        return None

    # ---- the deleter (NamespacedResourcesDeleter.Delete) ----------------------------------------

    async def delete(self, name: str) -> None:
        """Empty and finalize namespace `name` if it is being deleted. Raises ResourcesRemainingError
        while content is still going away, ContentDeletionError or ApiError on failures."""
        try:
            ns = await self.client.get(NAMESPACES, None, name)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        if not ns["metadata"].get("deletionTimestamp"):
            return
        try:
            ns = await self._retry_on_conflict(ns, self._update_phase)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        if not ns["metadata"].get("deletionTimestamp"):
            return
        if not (ns.get("spec") or {}).get("finalizers"):
            return  # already finalized
        estimate = await self.delete_all_content(ns)
        if estimate > 0:
            raise ResourcesRemainingError(estimate)
        try:
            await self._retry_on_conflict(ns, self._finalize)
        except ApiError as e:
            if e.code != 404:  # a second controller may have finished first
                raise

    async def _retry_on_conflict(self, ns: Obj, fn: Callable[[Obj], Awaitable[Obj]]) -> Obj:
        latest = ns
        while True:
            try:
                return await fn(latest)
            except ApiError as e:
                if e.code != 409:
                    raise
            previous = latest
            latest = await self.client.get(NAMESPACES, None, ns["metadata"]["name"])
            if previous["metadata"].get("uid") != latest["metadata"].get("uid"):
                raise ContentDeletionError("namespace uid has changed across retries")

    async def _update_phase(self, ns: Obj) -> Obj:
        if not ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            return ns
        new = copy.deepcopy(ns)
        new.setdefault("status", {})["phase"] = "Terminating"
        return await self.client.update(NAMESPACES, new, subresource="status")

    async def _finalize(self, ns: Obj) -> Obj:
        new = copy.deepcopy(ns)
        kept = sorted({f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != FINALIZER_TOKEN})
        new.setdefault("spec", {})["finalizers"] = kept
        return await self.client.update(NAMESPACES, new, subresource="finalize")

    async def delete_all_content(self, ns: Obj) -> int:
        """Delete every namespaced object in ns; returns seconds to wait (0: nothing remains)."""
        name = ns["metadata"]["name"]
        deleted_at = parse_time(ns["metadata"]["deletionTimestamp"])
        updater = ConditionUpdater(rfc3339(self.clock.now()))
        errors: list[str] = []
        estimate = 0
        by_resource: dict[str, int] = {}
        by_finalizer: Counter = Counter()
        for rt in deletable_resources():
            try:
                result = await self.delete_resource_content(rt, name, deleted_at)
            except _ResourceContentError as e:
                errors.append(str(e))
                updater.content_error(str(e))
                result = e.result
            estimate = max(estimate, result.estimate)
            if result.remaining:
                by_resource[group_resource(rt)] = result.remaining
                by_finalizer.update(result.finalizers)
        updater.content_totals(by_resource, by_finalizer)
        # Always write changes: a condition may go back to "ok" after a failure.
        status_ns = copy.deepcopy(ns)
        if updater.update(status_ns):
            try:
                await self.client.update(NAMESPACES, status_ns, subresource="status")
            except ApiError as e:
                log.warning("couldn't update status condition for namespace %r: %s", name, e.message)
        if errors:
            raise ContentDeletionError(_aggregate(errors))
        return estimate

    async def delete_resource_content(self, rt: ResourceType, namespace: str, deleted_at: Any) -> ResourceDeletion:
        """Delete one resource type's objects in namespace (Background propagation), then count
        what remains; raises _ResourceContentError (carrying the counts) on failure."""
        try:
            estimate = await self._estimate_graceful_termination(rt, namespace, deleted_at)
        except ApiError as e:
            raise _ResourceContentError(e.message, ResourceDeletion()) from e
        try:
            for item in (await self.client.list(rt, namespace)).get("items") or []:
                await self._delete_item(rt, namespace, item["metadata"]["name"])
            remaining = (await self.client.list(rt, namespace)).get("items") or []
        except ApiError as e:
            raise _ResourceContentError(e.message, ResourceDeletion(estimate)) from e
        if not remaining:
            return ResourceDeletion()
        finalizers = Counter(f for item in remaining for f in item["metadata"].get("finalizers") or [])
        if estimate:
            return ResourceDeletion(estimate, len(remaining), finalizers)
        if finalizers:
            return ResourceDeletion(FINALIZER_ESTIMATE_SECONDS, len(remaining), finalizers)
        raise _ResourceContentError(
            f"unexpected items still remain in namespace: {namespace} for gvr: {gvr_string(rt)}",
            ResourceDeletion(estimate, len(remaining)))

    async def _delete_item(self, rt: ResourceType, namespace: str, name: str) -> None:
        try:
            await self.client.delete(rt, namespace, name, propagation_policy="Background")
        except ApiError as e:
            if e.code not in (404, 405):
                raise

    async def _estimate_graceful_termination(self, rt: ResourceType, namespace: str, deleted_at: Any) -> int:
        """For pods: the longest grace period of a pod still running, unless it has already passed."""
        if rt is not PODS:
            return 0
        estimate = 0
        for pod in (await self.client.list(PODS, namespace)).get("items") or []:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if grace is not None:
                estimate = max(estimate, int(grace))
        if (self.clock.now() - deleted_at).total_seconds() >= estimate:
            return 0
        return estimate


class _ResourceContentError(Exception):
    def __init__(self, message: str, result: ResourceDeletion):
        super().__init__(message)
        self.result = result


__all__ = ["ConditionUpdater", "NamespaceController", "ResourcesRemainingError", "deletable_resources",
           "group_resource", "gvr_string"]
