"""The garbage collector: deletes objects whose owners are gone (pkg/controller/garbagecollector).

Informers on every resource type feed an ownership graph (uid -> node, with its owners and
dependents). Owners referenced before they are seen get a "virtual" node, verified with a GET.
Two work queues act on the graph, as in Kubernetes:
- attemptToDelete: an object whose owners may all be gone is deleted (background unless its own
  finalizers say otherwise); dangling references next to a live owner are patched away; an owner
  in foreground deletion loses its `foregroundDeletion` finalizer once no dependent blocks it;
- attemptToOrphan: an owner with the `orphan` finalizer is removed from its dependents'
  ownerReferences, then the finalizer is removed.
Graph updates happen inside the informer callbacks (one event loop, no locks needed); only the
queue workers talk to the API server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.registry import ResourceType
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.client.controller import Controller
from kubeling.client.events import WARNING
from kubeling.client.informer import InformerFactory
from kubeling.client.workqueue import WorkQueue

log = logging.getLogger("kubeling.controllers.garbagecollector")

FOREGROUND_FINALIZER = "foregroundDeletion"  # metav1.FinalizerDeleteDependents
ORPHAN_FINALIZER = "orphan"  # metav1.FinalizerOrphanDependents
# Events are never owners worth tracking and are by far the most numerous objects.
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
ABSENT_OWNER_CACHE_SIZE = 500
REMOVE_FINALIZER_RETRIES = 5
DEFAULT_WORKERS = 20  # kube-controller-manager's --concurrent-gc-syncs


@dataclass(frozen=True)
class Identity:
    """An object's coordinates, as an owner reference names them plus the namespace."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def __str__(self) -> str:
        return (f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, name: {self.name}, "
                f"uid: {self.uid}]")

    def coordinates(self) -> tuple[str, str, str, str]:
        return self.api_version, self.kind, self.name, self.uid


def ref_identity(ref: Obj, namespace: str = "") -> Identity:
    return Identity(ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""), ref.get("uid", ""),
                    namespace)


def _ref_coordinates(ref: Obj) -> tuple[str, str, str, str]:
    return ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""), ref.get("uid", "")


@dataclass(eq=False)
class Node:
    identity: Identity
    owners: list[Obj] = field(default_factory=list)
    dependents: set[str] = field(default_factory=set)  # uids
    virtual: bool = False  # referenced as an owner, not yet observed by an informer
    being_deleted: bool = False
    deleting_dependents: bool = False

    @property
    def uid(self) -> str:
        return self.identity.uid


class _AbsentOwners:
    """A bounded LRU of owner identities the API server said do not exist."""

    def __init__(self, size: int = ABSENT_OWNER_CACHE_SIZE):
        self.size = size
        self._items: OrderedDict[Identity, None] = OrderedDict()

    def add(self, identity: Identity) -> None:
        self._items[identity] = None
        self._items.move_to_end(identity)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, identity: Identity) -> bool:
        return identity in self._items


class _VirtualDeleteEnqueued(Exception):
    """The object is gone: its node was removed from the graph, nothing more to do."""


class _NamespacedOwnerOfClusterScopedObject(Exception):
    """A cluster-scoped object names a namespaced owner: retrying cannot help."""


def _finalizers(obj: Obj) -> list[str]:
    return (obj.get("metadata") or {}).get("finalizers") or []


def _being_deleted(obj: Obj | None) -> bool:
    return bool(obj and (obj.get("metadata") or {}).get("deletionTimestamp"))


def _deletion_starts_with(old: Obj | None, new: Obj, finalizer: str) -> bool:
    """True when `new` is being deleted with `finalizer` and `old` was not (or had not it)."""
    if not _being_deleted(new) or finalizer not in _finalizers(new):
        return False
    return old is None or not _being_deleted(old) or finalizer not in _finalizers(old)


def _blocks(ref: Obj) -> bool:
    return ref.get("blockOwnerDeletion") is True


def references_diffs(old: list[Obj], new: list[Obj]) -> tuple[list[Obj], list[Obj], list[tuple[Obj, Obj]]]:
    """(added, removed, changed as (old, new)) owner references, matched by uid."""
    old_by_uid = {r.get("uid"): r for r in old}
    added, changed = [], []
    for ref in new:
        before = old_by_uid.pop(ref.get("uid"), None)
        if before is None:
            added.append(ref)
        elif before != ref:
            changed.append((before, ref))
    return added, list(old_by_uid.values()), changed


def api_resource(api_version: str, kind: str) -> ResourceType:
    group, _, version = api_version.rpartition("/")
    rt = registry.lookup_kind(group, version, kind)
    if rt is None:
        raise LookupError(f"unable to get REST mapping for {api_version}/{kind}")
    return rt


def _namespace_arg(rt: ResourceType, namespace: str) -> str | None:
    return namespace if rt.namespaced else None


class GarbageCollector(Controller):
    name = "garbage-collector-controller"

    def __init__(self, client: Client, factory: InformerFactory, recorder: Any, *, clock: Clock = REAL,
                 workers: int = DEFAULT_WORKERS):
        super().__init__(workers=workers, clock=clock)
        self.client = client
        self.recorder = recorder
        self.attempt_to_delete = self.queue  # the base class's queue, under Kubernetes' name
        self.attempt_to_orphan = WorkQueue("garbage_collector_attempt_to_orphan", clock=clock)
        self.nodes: dict[str, Node] = {}
        self.absent_owners = _AbsentOwners()
        self.resources = [rt for rt in registry.RESOURCES
                          if (rt.group, rt.plural) not in IGNORED_RESOURCES
                          and {"list", "watch", "delete"} <= set(rt.verbs)]
        for rt in self.resources:
            factory.informer(rt).add_handler(
                on_add=lambda obj, rt=rt: self._observed(rt, None, obj),
                on_update=lambda old, new, rt=rt: self._observed(rt, old, new),
                on_delete=lambda obj, rt=rt: self._deleted(self._identity(rt, obj), virtual=False))

    # ---- running --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._serve(self.attempt_to_delete, self._attempt_to_delete_worker),
                                           name=f"gc-delete-{i}") for i in range(self.workers)]
        self._tasks += [asyncio.create_task(self._serve(self.attempt_to_orphan, self._attempt_to_orphan_worker),
                                            name=f"gc-orphan-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(asyncio.gather(self.attempt_to_delete.drain(),
                                                  self.attempt_to_orphan.drain()), 10)
        except TimeoutError:
            pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reconcile(self, key: str) -> float | None:
        """One attemptToDelete step for the node with uid `key` (raises to ask for a retry)."""
        if await self._attempt_to_delete_worker(key):
            raise RuntimeError(f"item {key} needs another look")
        return None

    async def _serve(self, queue: WorkQueue, work) -> None:
        """A worker: True from `work` means retry with backoff, False means done with the key."""
        while (uid := await queue.get()) is not None:
            try:
                requeue = await work(uid)
            except asyncio.CancelledError:
                queue.done(uid)
                raise
            except Exception as e:
                level = logging.DEBUG if isinstance(e, ApiError) and e.code in (404, 409) else logging.WARNING
                log.log(level, "error syncing item %s: %s", self._describe(uid), e)
                requeue = True
            if requeue:
                queue.add_rate_limited(uid)
            else:
                queue.forget(uid)
            queue.done(uid)

    def _describe(self, uid: str) -> str:
        node = self.nodes.get(uid)
        return str(node.identity) if node else uid

    # ---- the graph (GraphBuilder) ---------------------------------------------------------------

    @staticmethod
    def _identity(rt: ResourceType, obj: Obj) -> Identity:
        md = obj.get("metadata") or {}
        return Identity(rt.api_version, rt.kind, md.get("name", ""), md.get("uid", ""), md.get("namespace", ""))

    def _observed(self, rt: ResourceType, old: Obj | None, obj: Obj) -> None:
        """An add or update from an informer."""
        identity = self._identity(rt, obj)
        if not identity.uid:
            return
        md = obj.get("metadata") or {}
        owners = list(md.get("ownerReferences") or [])
        node = self.nodes.get(identity.uid)
        if node is not None and node.virtual:
            self._replace_virtual(node, identity)
        if node is None:
            node = Node(identity, owners=owners, being_deleted=_being_deleted(obj),
                        deleting_dependents=_being_deleted(obj) and FOREGROUND_FINALIZER in _finalizers(obj))
            self.nodes[identity.uid] = node
            self._add_dependent_to_owners(node, owners)
        else:
            if node.identity != identity:
                node.identity = identity  # apiVersion/kind/name as observed
            added, removed, changed = references_diffs(node.owners, owners)
            if added or removed or changed:
                self._enqueue_unblocked_owners(removed, changed)
                node.owners = owners
                self._add_dependent_to_owners(node, added)
                self._remove_dependent_from_owners(node, removed)
            if _being_deleted(obj):
                node.being_deleted = True
        self._process_transitions(old, obj, node)

    def _replace_virtual(self, node: Node, observed: Identity) -> None:
        """A virtual owner is now seen: dependents that named it wrongly must be re-checked."""
        if observed != node.identity:
            _, invalid = self._partition_dependents(node, observed)
            for dep in invalid:
                if observed.namespace and dep.identity.namespace != observed.namespace:
                    self._report_invalid_namespace_owner_ref(dep, observed.uid)
                self.attempt_to_delete.add(dep.uid)
            node.identity = observed
        node.virtual = False

    def _add_dependent_to_owners(self, node: Node, owners: list[Obj]) -> None:
        """Link node under each owner, creating virtual owners (to be verified) for unseen ones."""
        suspicious = False
        for ref in owners:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is None:
                owner = Node(ref_identity(ref, node.identity.namespace), virtual=True)
                self.nodes[owner.uid] = owner
                owner.dependents.add(node.uid)
                self.attempt_to_delete.add(owner.uid)
                continue
            owner.dependents.add(node.uid)
            if owner.deleting_dependents:
                # Seen after its owner's foreground deletion began (pods and their owner come from
                # separate watches): it would otherwise wait for the owner to go.
                self.attempt_to_delete.add(node.uid)
            if suspicious:
                continue
            owner_namespaced = bool(owner.identity.namespace)
            if owner_namespaced and owner.identity.namespace != node.identity.namespace:
                if not owner.virtual:
                    self._report_invalid_namespace_owner_ref(node, owner.uid)
                suspicious = True
            elif _ref_coordinates(ref) != owner.identity.coordinates():
                suspicious = True
            elif not owner_namespaced and node.identity.namespace and owner.virtual:
                suspicious = True  # maybe a namespaced kind named by a cluster-scoped child
        if suspicious:
            self.attempt_to_delete.add(node.uid)

    def _remove_dependent_from_owners(self, node: Node, owners: list[Obj]) -> None:
        for ref in owners:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is not None:
                owner.dependents.discard(node.uid)

    def _enqueue_unblocked_owners(self, removed: list[Obj], changed: list[tuple[Obj, Obj]]) -> None:
        """An owner waiting in foreground deletion may be free once a blocking reference goes."""
        unblocked = [r for r in removed if _blocks(r)]
        unblocked += [new for old, new in changed if _blocks(old) and not _blocks(new)]
        for ref in unblocked:
            if ref.get("uid") in self.nodes:
                self.attempt_to_delete.add(ref["uid"])

    def _process_transitions(self, old: Obj | None, new: Obj, node: Node) -> None:
        if _deletion_starts_with(old, new, ORPHAN_FINALIZER):
            self.attempt_to_orphan.add(node.uid)
            return
        if _deletion_starts_with(old, new, FOREGROUND_FINALIZER):
            node.deleting_dependents = True
            for dep in node.dependents:
                self.attempt_to_delete.add(dep)
            self.attempt_to_delete.add(node.uid)

    def _deleted(self, identity: Identity, *, virtual: bool) -> None:
        """An object is gone (seen by an informer, or confirmed by the API server when virtual)."""
        node = self.nodes.get(identity.uid)
        if node is None:
            return
        if virtual and not self._may_remove_on_virtual_delete(node, identity):
            return
        del self.nodes[identity.uid]
        self._remove_dependent_from_owners(node, node.owners)
        if node.dependents:
            self.absent_owners.add(identity)
        for dep in node.dependents:
            self.attempt_to_delete.add(dep)
        for ref in node.owners:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is not None and owner.deleting_dependents:
                self.attempt_to_delete.add(owner.uid)  # one blocking dependent fewer

    def _may_remove_on_virtual_delete(self, node: Node, deleted: Identity) -> bool:
        """A GET found no object at `deleted`; dependents naming the uid otherwise keep the node."""
        if not node.virtual and node.identity == deleted:
            return True
        matching, nonmatching = self._partition_dependents(node, deleted)
        if node.virtual and not nonmatching:
            return True
        if matching:
            self.absent_owners.add(deleted)
            for dep in matching:
                self.attempt_to_delete.add(dep.uid)
        if node.virtual and node.identity == deleted:
            alternate = self._alternate_identity(nonmatching, deleted)
            if alternate is not None:
                node.identity = alternate
                self.attempt_to_delete.add_rate_limited(node.uid)
        return False

    def _dependents(self, node: Node) -> list[Node]:
        return [self.nodes[uid] for uid in list(node.dependents) if uid in self.nodes]

    def _partition_dependents(self, node: Node, owner: Identity) -> tuple[list[Node], list[Node]]:
        """Dependents whose reference to owner.uid matches its coordinates, and those that do not."""
        matching, nonmatching = [], []
        for dep in self._dependents(node):
            if owner.namespace and dep.identity.namespace != owner.namespace:
                nonmatching.append(dep)
                continue
            refs = [r for r in dep.owners if r.get("uid") == owner.uid]
            if any(_ref_coordinates(r) == owner.coordinates() for r in refs):
                matching.append(dep)
            if any(_ref_coordinates(r) != owner.coordinates() for r in refs):
                nonmatching.append(dep)
        return matching, nonmatching

    @staticmethod
    def _alternate_identity(deps: list[Node], absent: Identity) -> Identity | None:
        """Another identity the dependents give this uid: the first after `absent`, in order."""
        def order(i: Identity) -> tuple:
            return i.kind, i.api_version, i.namespace, i.name, i.uid

        candidates = set()
        for dep in deps:
            for ref in dep.owners:
                if ref.get("uid") != absent.uid:
                    continue
                alt = ref_identity(ref, dep.identity.namespace)
                if not absent.namespace and (alt.api_version, alt.kind) == (absent.api_version, absent.kind):
                    alt = replace(alt, namespace="")
                if alt != absent:
                    candidates.add(alt)
        if not candidates:
            return None
        following = sorted(c for c in candidates if order(c) > order(absent))
        return min(following or candidates, key=order)

    def _report_invalid_namespace_owner_ref(self, node: Node, owner_uid: str) -> None:
        ref = next((r for r in node.owners if r.get("uid") == owner_uid), None)
        if ref is None or self.recorder is None:
            return
        invalid = ref_identity(ref, node.identity.namespace)
        involved = {"kind": node.identity.kind, "apiVersion": node.identity.api_version,
                    "metadata": {"namespace": node.identity.namespace, "name": node.identity.name,
                                 "uid": node.identity.uid}}
        self.recorder.event(involved, WARNING, "OwnerRefInvalidNamespace",
                            f'ownerRef {invalid} does not exist in namespace "{node.identity.namespace}"')

    # ---- attemptToDelete ------------------------------------------------------------------------

    async def _attempt_to_delete_worker(self, uid: str) -> bool:
        node = self.nodes.get(uid)
        if node is None:
            return False  # already removed from the graph
        try:
            await self._attempt_to_delete_item(node)
        except (_VirtualDeleteEnqueued, _NamespacedOwnerOfClusterScopedObject):
            return False
        # A virtual node whose object exists is polled until an informer reports it.
        return node.virtual

    async def _attempt_to_delete_item(self, node: Node) -> None:
        if node.being_deleted and not node.deleting_dependents:
            return  # a one-way trip: its dependents are handled once it is gone
        latest = await self._get_or_virtual_delete(node)
        if node.deleting_dependents:
            await self._process_deleting_dependents(node)
            return
        refs = (latest.get("metadata") or {}).get("ownerReferences") or []
        if not refs:
            return
        solid, dangling, waiting = await self._classify_references(node, refs)
        if solid:
            if dangling or waiting:
                # Waiting owners must not stay blocked by a dependent that is not going away.
                await self._delete_owner_refs(node, [r["uid"] for r in dangling + waiting])
            return
        if waiting and node.dependents:
            if any(dep.deleting_dependents for dep in self._dependents(node)):
                await self._unblock_owner_references(node)  # break a possible foreground cycle
            await self._delete_object(node, latest, "Foreground")
            return
        finalizers = _finalizers(latest)
        if ORPHAN_FINALIZER in finalizers:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        log.debug("deleting %s with propagationPolicy %s", node.identity, policy)
        await self._delete_object(node, latest, policy)

    async def _get_or_virtual_delete(self, node: Node) -> Obj:
        """The live object; when it is gone (or replaced), drop the node and stop processing it."""
        try:
            latest = await self._get(node.identity)
        except ApiError as e:
            if e.code != 404:
                raise
            latest = None
        if latest is None or (latest.get("metadata") or {}).get("uid") != node.uid:
            self._deleted(node.identity, virtual=True)
            raise _VirtualDeleteEnqueued()
        return latest

    async def _process_deleting_dependents(self, node: Node) -> None:
        blocking = [dep for dep in self._dependents(node)
                    if any(r.get("uid") == node.uid and _blocks(r) for r in dep.owners)]
        if not blocking:
            await self._remove_finalizer(node, FOREGROUND_FINALIZER)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.attempt_to_delete.add(dep.uid)

    async def _classify_references(self, node: Node, refs: list[Obj]) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """(solid, dangling, waiting for dependents deletion) owner references."""
        solid, dangling, waiting = [], [], []
        for ref in refs:
            owner = await self._live_owner(ref, node)
            if owner is None:
                dangling.append(ref)
            elif _being_deleted(owner) and FOREGROUND_FINALIZER in _finalizers(owner):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _live_owner(self, ref: Obj, node: Node) -> Obj | None:
        """The owner a reference names, or None when it does not exist (absent or another uid)."""
        cluster_key = ref_identity(ref)
        namespaced_key = ref_identity(ref, node.identity.namespace)
        if cluster_key in self.absent_owners or namespaced_key in self.absent_owners:
            return None
        rt = api_resource(ref.get("apiVersion", ""), ref.get("kind", ""))
        key = namespaced_key if rt.namespaced else cluster_key
        if rt.namespaced and not node.identity.namespace:
            log.info("%s is cluster-scoped but refers to a namespaced owner %s", node.identity, key)
            raise _NamespacedOwnerOfClusterScopedObject()
        try:
            owner = await self.client.get(rt, _namespace_arg(rt, node.identity.namespace), ref.get("name", ""))
        except ApiError as e:
            if e.code != 404:
                raise
            self.absent_owners.add(key)
            return None
        if (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
            self.absent_owners.add(key)
            return None
        return owner

    # ---- attemptToOrphan ------------------------------------------------------------------------

    async def _attempt_to_orphan_worker(self, uid: str) -> bool:
        owner = self.nodes.get(uid)
        if owner is None:
            return False
        results = await asyncio.gather(*(self._orphan(dep, owner.uid) for dep in self._dependents(owner)),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            log.warning("failed to orphan dependents of owner %s: %s", owner.identity,
                        "; ".join(str(f) for f in failures))
            return True
        await self._remove_finalizer(owner, ORPHAN_FINALIZER)
        return False

    async def _orphan(self, dependent: Node, owner_uid: str) -> None:
        try:
            await self._delete_owner_refs(dependent, [owner_uid])
        except ApiError as e:
            if e.code != 404:
                raise

    # ---- writes ---------------------------------------------------------------------------------

    async def _get(self, identity: Identity) -> Obj:
        rt = api_resource(identity.api_version, identity.kind)
        if rt.namespaced and not identity.namespace:
            # Only a cluster-scoped dependent naming a namespaced owner leads here.
            raise _NamespacedOwnerOfClusterScopedObject()
        return await self.client.get(rt, _namespace_arg(rt, identity.namespace), identity.name)

    async def _patch(self, identity: Identity, body: Obj, patch_type: str) -> Obj:
        rt = api_resource(identity.api_version, identity.kind)
        return await self.client.patch(rt, _namespace_arg(rt, identity.namespace), identity.name, body,
                                       patch_type=patch_type)

    async def _delete_owner_refs(self, node: Node, owner_uids: list[str]) -> None:
        """A strategic merge patch deleting references by uid (the dependent's uid guards the target)."""
        body = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u} for u in owner_uids],
                             "uid": node.uid}}
        await self._patch(node.identity, body, "strategic")

    async def _unblock_owner_references(self, node: Node) -> None:
        refs = [{**r, "blockOwnerDeletion": False} for r in node.owners if _blocks(r)]
        if refs:
            await self._patch(node.identity, {"metadata": {"ownerReferences": refs, "uid": node.uid}}, "strategic")

    async def _delete_object(self, node: Node, latest: Obj, policy: str) -> None:
        """Delete with uid and resourceVersion preconditions; when only the resourceVersion moved
        and the owners are unchanged, retry with the uid alone."""
        md = latest.get("metadata") or {}
        rt = api_resource(node.identity.api_version, node.identity.kind)
        ns = _namespace_arg(rt, node.identity.namespace)
        preconditions = {"uid": node.uid}
        if md.get("resourceVersion"):
            preconditions["resourceVersion"] = md["resourceVersion"]
        try:
            try:
                await self.client.delete(rt, ns, node.identity.name, propagation_policy=policy,
                                         preconditions=preconditions)
            except ApiError as e:
                if e.code != 409:
                    raise
                live = await self.client.get(rt, ns, node.identity.name)
                live_md = live.get("metadata") or {}
                if live_md.get("uid") != node.uid or \
                        (live_md.get("ownerReferences") or []) != (md.get("ownerReferences") or []):
                    raise
                await self.client.delete(rt, ns, node.identity.name, propagation_policy=policy,
                                         preconditions={"uid": node.uid})
        except ApiError as e:
            if e.code != 404:
                raise
            self._deleted(node.identity, virtual=True)
            raise _VirtualDeleteEnqueued() from None

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        """Remove one finalizer, guarded by resourceVersion, retrying a few conflicts."""
        for _ in range(REMOVE_FINALIZER_RETRIES):
            try:
                obj = await self._get(node.identity)
            except ApiError as e:
                if e.code == 404:
                    return
                raise
            md = obj.get("metadata") or {}
            finalizers = md.get("finalizers") or []
            if finalizer not in finalizers:
                return
            remaining = [f for f in finalizers if f != finalizer]
            body = {"metadata": {"resourceVersion": md.get("resourceVersion"), "finalizers": remaining or None}}
            try:
                await self._patch(node.identity, body, "merge")
                return
            except ApiError as e:
                if e.code == 404:
                    return
                if e.code != 409:
                    raise
        raise RuntimeError(f"updateMaxRetries({REMOVE_FINALIZER_RETRIES}) has reached. The garbage collector "
                           f"will retry later for owner {node.identity}")


__all__ = ["FOREGROUND_FINALIZER", "ORPHAN_FINALIZER", "GarbageCollector", "Identity", "Node"]
