"""The ReplicaSet controller (Kubernetes' pkg/controller/replicaset).

For each ReplicaSet it keeps spec.replicas active pods made from spec.template: it claims the
pods its selector matches (adopting orphans, releasing owned pods whose labels no longer
match), creates the missing ones in slow-start batches, deletes the surplus in Kubernetes'
preference order, and reports replicas/fullyLabeled/ready/available in the status.
Expectations keep a slow watch from causing a second round of creations or deletions.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.meta import rfc3339
from kubeling.api.names import dns1123_subdomain
from kubeling.api.selectors import LabelSelector
from kubeling.client.base import Client, Obj, json_copy, object_key, split_key
from kubeling.client.clock import REAL, Clock
from kubeling.client.controller import Controller
from kubeling.client.events import NORMAL, WARNING, EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.controllers import podutil
from kubeling.controllers.expectations import UIDTrackingExpectations

log = logging.getLogger("kubeling.controllers.replicaset")

REPLICASETS = registry.lookup("apps", "v1", "replicasets")
PODS = registry.lookup("", "v1", "pods")

BURST_REPLICAS = 500  # the most pods one sync creates or deletes
SLOW_START_INITIAL_BATCH = 1
STATUS_UPDATE_RETRIES = 1
# A sync whose walk over its pods (claiming, counting) took over HOLD_FROM seconds keeps its key
# for HOLD_RATIO times as long (Controller.hold): with 10,000 pods, whose every status change
# adds the key, the walks then take at most a quarter of the event loop instead of all of it.
HOLD_FROM = 0.005
HOLD_RATIO = 3.0

# Event reasons (pkg/controller/controller_utils.go).
SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_DELETE = "SuccessfulDelete"
FAILED_DELETE = "FailedDelete"

REPLICA_FAILURE = "ReplicaFailure"
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


class ControllerError(Exception):
    """A failure of the controller's own making (not an API answer)."""


def error_text(err: BaseException) -> str:
    """What Go's err.Error() prints: an API error is its Status message."""
    return err.message if isinstance(err, ApiError) else str(err)


def _has_cause(err: ApiError, cause: str) -> bool:
    return any(c.get("reason") == cause or c.get("type") == cause
               for c in (err.details or {}).get("causes") or [])


def _meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _replicas(rs: Obj) -> int:
    replicas = (rs.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _min_ready_seconds(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("minReadySeconds") or 0)


async def slow_start_batch(count: int, initial: int,
                           fn: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Call fn count times in batches of 1, 2, 4, ... (each batch concurrently), stopping
    after the first batch with a failure: a quota or webhook refusal then costs one call,
    not count. Returns (successes, the first error or None)."""
    remaining, successes = count, 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def pod_name_prefix(controller_name: str) -> str:
    """`<name>-`, unless that is not a valid generateName prefix (getPodsPrefix)."""
    prefix = f"{controller_name}-"
    masked = prefix[:-1] + "a" if len(prefix) > 1 else prefix  # a generated suffix follows the dash
    return prefix if not dns1123_subdomain(masked) else controller_name


def pod_from_template(template: Obj, parent: Obj, controller_ref: Obj | None) -> Obj:
    """The pod a controller creates from its template (controller.GetPodFromTemplate): a new
    object sharing nothing with template, parent or controller_ref."""
    return copy.deepcopy(shared_pod_body(template, parent, controller_ref))


def shared_pod_body(template: Obj, parent: Obj, controller_ref: Obj | None) -> Obj:
    """pod_from_template's pod without the deep copy: its spec and ownerReferences are template's
    and controller_ref themselves. Read-only, and only for a client that copies or serializes
    what it sends (both clients here do): one sync sends it hundreds of times."""
    tmeta = template.get("metadata") or {}
    md: dict[str, Any] = {"generateName": pod_name_prefix(_meta(parent)["name"]),
                          "labels": dict(tmeta.get("labels") or {})}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    if controller_ref is not None:
        md["ownerReferences"] = [controller_ref]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}


def calculate_status(rs: Obj, pods: list[Obj], manage_error: BaseException | None, now: Any) -> Obj:
    """The ReplicaSet's new status from its claimed active pods (calculateStatus)."""
    status = json_copy(rs.get("status") or {})
    template = (rs.get("spec") or {}).get("template") or {}
    fully_labeled_match = podutil.label_matcher(
        LabelSelector.from_set((template.get("metadata") or {}).get("labels")))
    min_ready = _min_ready_seconds(rs)
    fully_labeled = ready = available = 0
    for pod in pods:
        if fully_labeled_match(_meta(pod).get("labels")):
            fully_labeled += 1
        if podutil.is_pod_ready(pod):
            ready += 1
            if podutil.is_pod_available(pod, min_ready, now):
                available += 1
    conditions = [c for c in status.get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        diff = len(pods) - _replicas(rs)
        reason = FAILED_CREATE if diff < 0 else FAILED_DELETE if diff > 0 else ""
        cond = {"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": rfc3339(now),
                "reason": reason, "message": error_text(manage_error)}
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE] + [cond]
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    # JSON as Kubernetes writes it: zero counts and empty lists are omitted (omitempty).
    new: Obj = {"replicas": len(pods)}
    counts = (("fullyLabeledReplicas", fully_labeled), ("readyReplicas", ready),
              ("availableReplicas", available), ("observedGeneration", status.get("observedGeneration")))
    for name, value in counts:
        if value:
            new[name] = value
    if conditions:
        new["conditions"] = conditions
    return new


_COUNTS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


def status_unchanged(rs: Obj, new: Obj) -> bool:
    old = rs.get("status") or {}
    return (all((old.get(k) or 0) == (new.get(k) or 0) for k in _COUNTS)
            and _meta(rs).get("generation", 0) == (old.get("observedGeneration") or 0)
            and (old.get("conditions") or []) == (new.get("conditions") or []))


class ReplicaSetController(Controller):
    name = "replicaset"

    def __init__(self, client: Client, factory: InformerFactory, recorder: EventRecorder, *,
                 clock: Clock = REAL, workers: int = 5, burst_replicas: int = BURST_REPLICAS):
        super().__init__(workers=workers, clock=clock)
        self.client = client
        self.recorder = recorder
        self.burst_replicas = burst_replicas
        self.expectations = UIDTrackingExpectations(clock)
        self.rs_informer = factory.informer(REPLICASETS)
        self.pod_informer = factory.informer(PODS)
        podutil.add_claim_indexers(self.rs_informer.indexer)
        podutil.add_claim_indexers(self.pod_informer.indexer)
        self.rs_informer.add_handler(on_add=self._add_rs, on_update=self._update_rs,
                                     on_delete=self._delete_rs)
        self.pod_informer.add_handler(on_add=self._add_pod, on_update=self._update_pod,
                                      on_delete=self._delete_pod)

    # ---- event handlers: map changes to ReplicaSet keys -------------------------------------------

    def _add_rs(self, rs: Obj) -> None:
        self.enqueue(rs)

    def _update_rs(self, old: Obj, cur: Obj) -> None:
        if _meta(old).get("uid") != _meta(cur).get("uid"):
            self._delete_rs(old)  # deleted and re-created between two events
        self.enqueue(cur)

    def _delete_rs(self, rs: Obj) -> None:
        key = object_key(rs)
        self.expectations.delete(key)
        self.queue.add(key)

    def _resolve_controller_ref(self, namespace: str, ref: Obj) -> Obj | None:
        """The ReplicaSet a controllerRef points at, if it is one we know with that uid."""
        if ref.get("kind") != "ReplicaSet":
            return None
        rs = self.rs_informer.indexer.get(f"{namespace}/{ref.get('name', '')}")
        if rs is None or _meta(rs).get("uid") != ref.get("uid"):
            return None
        return rs

    def _pod_replica_sets(self, pod: Obj) -> list[Obj]:
        """ReplicaSets in the pod's namespace whose (non-empty) selector matches it: adopters."""
        labels = _meta(pod).get("labels")
        if not labels:
            return []
        found = []
        for rs in self.rs_informer.indexer.by_index("namespace", _meta(pod).get("namespace", "")):
            try:
                selector = LabelSelector.from_dict((rs.get("spec") or {}).get("selector"))
            except ApiError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(rs)
        return found

    def _add_pod(self, pod: Obj) -> None:
        if _meta(pod).get("deletionTimestamp"):
            self._delete_pod(pod)  # seen first while already being deleted (e.g. after a relist)
            return
        ref = podutil.get_controller_of(pod)
        if ref is not None:
            rs = self._resolve_controller_ref(_meta(pod).get("namespace", ""), ref)
            if rs is not None:
                key = object_key(rs)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for rs in self._pod_replica_sets(pod):
            self.enqueue(rs)

    def _update_pod(self, old: Obj, cur: Obj) -> None:
        if _meta(old).get("resourceVersion") == _meta(cur).get("resourceVersion"):
            return  # a periodic resync: nothing changed
        labels_changed = _meta(old).get("labels") != _meta(cur).get("labels")
        if _meta(cur).get("deletionTimestamp"):
            # Graceful deletion: count it now, not when the kubelet finally removes the pod.
            self._delete_pod(cur)
            if labels_changed:
                self._delete_pod(old)
            return
        namespace = _meta(cur).get("namespace", "")
        cur_ref, old_ref = podutil.get_controller_of(cur), podutil.get_controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            rs = self._resolve_controller_ref(namespace, old_ref)
            if rs is not None:
                self.enqueue(rs)
        if cur_ref is not None:
            rs = self._resolve_controller_ref(namespace, cur_ref)
            if rs is None:
                return
            self.enqueue(rs)
            min_ready = _min_ready_seconds(rs)
            if not podutil.is_pod_ready(old) and podutil.is_pod_ready(cur) and min_ready > 0:
                # Look again once the pod has been ready long enough to be available.
                self.queue.add_after(object_key(rs), min_ready + 1)
            return
        if labels_changed or ref_changed:
            for rs in self._pod_replica_sets(cur):
                self.enqueue(rs)

    def _delete_pod(self, pod: Obj) -> None:
        ref = podutil.get_controller_of(pod)
        if ref is None:
            return
        rs = self._resolve_controller_ref(_meta(pod).get("namespace", ""), ref)
        if rs is None:
            return
        key = object_key(rs)
        self.expectations.deletion_observed(key, podutil.pod_key(pod))
        self.queue.add(key)

    # ---- the sync -------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, _ = split_key(key)
        rs = self.rs_informer.indexer.get(key)
        if rs is None:
            self.expectations.delete(key)
            return None
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = LabelSelector.from_dict((rs.get("spec") or {}).get("selector"))
        except ApiError as e:
            log.error("replicaset %s has an invalid selector: %s", key, e.message)
            return None
        # Only the pods it controls and the orphans it may adopt: others' pods are never claimed.
        started = time.perf_counter()
        candidates = podutil.owned_or_orphaned(self.pod_informer.indexer, namespace or "", _meta(rs)["uid"])
        pods = await self._claim_pods(rs, selector, podutil.filter_active_pods(candidates))
        walked = time.perf_counter() - started

        manage_error: BaseException | None = None
        scaling = needs_sync and not _meta(rs).get("deletionTimestamp") and len(pods) != _replicas(rs)
        if needs_sync and not _meta(rs).get("deletionTimestamp"):
            try:
                await self._manage_replicas(pods, rs)
            except (ApiError, ControllerError) as e:
                manage_error = e
        started = time.perf_counter()
        status = calculate_status(rs, pods, manage_error, self.clock.now())
        walked += time.perf_counter() - started
        if walked > HOLD_FROM and not scaling:  # a scaling sync's successor waits for its expectations
            self.hold(key, HOLD_RATIO * walked)
        updated = await self._update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        spec_replicas = _replicas(updated)
        new_status = updated.get("status") or {}
        min_ready = _min_ready_seconds(updated)
        if (min_ready > 0 and (new_status.get("readyReplicas") or 0) == spec_replicas
                and (new_status.get("availableReplicas") or 0) != spec_replicas):
            return float(min_ready)  # catch the moment the ready pods become available
        return None

    # ---- claiming (ControllerRefManager.ClaimPods) -------------------------------------------------

    async def _claim_pods(self, rs: Obj, selector: LabelSelector, pods: list[Obj]) -> list[Obj]:
        claimed: list[Obj] = []
        errors: list[BaseException] = []
        fresh: list[Obj | BaseException] = []  # the ReplicaSet re-read once, before the first adoption
        uid = _meta(rs)["uid"]
        selected = podutil.label_matcher(selector)
        for pod in pods:
            ref = podutil.get_controller_of(pod)
            matches = selected(_meta(pod).get("labels"))
            try:
                if ref is not None:
                    if ref.get("uid") != uid:
                        continue  # someone else's
                    if matches:
                        claimed.append(pod)
                    elif not _meta(rs).get("deletionTimestamp"):
                        await self._release(rs, pod)
                    continue
                if _meta(rs).get("deletionTimestamp") or not matches or _meta(pod).get("deletionTimestamp"):
                    continue
                if await self._adopt(rs, pod, fresh):
                    claimed.append(pod)
            except (ApiError, ControllerError) as e:
                errors.append(e)
        if errors:
            raise errors[0]
        return claimed

    async def _can_adopt(self, rs: Obj, fresh: list[Obj | BaseException]) -> None:
        """Adopt only if the ReplicaSet, read live, is still the same and not being deleted."""
        if not fresh:
            try:
                live = await self.client.get(REPLICASETS, _meta(rs)["namespace"], _meta(rs)["name"])
                md = live.get("metadata") or {}
                if md.get("uid") != _meta(rs)["uid"]:
                    raise ControllerError(f"original ReplicaSet {object_key(rs)} is gone: got uid "
                                          f"{md.get('uid')}, wanted {_meta(rs)['uid']}")
                if md.get("deletionTimestamp"):
                    raise ControllerError(
                        f"{object_key(rs)} has just been deleted at {md['deletionTimestamp']}")
                fresh.append(live)
            except (ApiError, ControllerError) as e:
                fresh.append(e)
        if isinstance(fresh[0], BaseException):
            raise fresh[0]

    async def _adopt(self, rs: Obj, pod: Obj, fresh: list[Obj | BaseException]) -> bool:
        await self._can_adopt(rs, fresh)
        md = _meta(pod)
        patch = {"metadata": {"ownerReferences": [podutil.new_controller_ref(rs)], "uid": md.get("uid")}}
        try:
            await self.client.patch(PODS, md["namespace"], md["name"], patch, patch_type="strategic")
        except ApiError as e:
            if e.code == 404:
                return False  # gone meanwhile: nothing to adopt
            raise
        log.info("replicaset %s adopted pod %s", object_key(rs), md["name"])
        return True

    async def _release(self, rs: Obj, pod: Obj) -> None:
        md = _meta(pod)
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": _meta(rs)["uid"]}],
                              "uid": md.get("uid")}}
        try:
            await self.client.patch(PODS, md["namespace"], md["name"], patch, patch_type="strategic")
        except ApiError as e:
            # Gone, or re-created under another uid: either way no longer ours to release.
            if e.code in (404, 409, 422):
                return
            raise
        log.info("replicaset %s released pod %s", object_key(rs), md["name"])

    # ---- scaling (manageReplicas) -----------------------------------------------------------------

    async def _manage_replicas(self, pods: list[Obj], rs: Obj) -> None:
        key = object_key(rs)
        diff = len(pods) - _replicas(rs)
        if diff < 0:
            await self._create_pods(rs, key, min(-diff, self.burst_replicas))
        elif diff > 0:
            await self._delete_pods(rs, key, pods, min(diff, self.burst_replicas))

    async def _create_pods(self, rs: Obj, key: str, count: int) -> None:
        # Expect every creation before the first is sent: its watch event may arrive first.
        self.expectations.expect_creations(key, count)
        # One body for the whole burst, its template copied once (the cached rs is shared).
        template = json_copy((rs.get("spec") or {}).get("template") or {})
        body = shared_pod_body(template, rs, podutil.new_controller_ref(rs))

        async def create_one() -> None:
            await self._create_pod(rs, body)

        successes, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH, create_one)
        # Creations never sent or refused will never be observed: stop expecting them.
        for _ in range(count - successes):
            self.expectations.creation_observed(key)
        if error is not None:
            raise error

    async def _create_pod(self, rs: Obj, body: Obj) -> None:
        # Top level and metadata are the pod's own, should a client fill in fields there.
        pod = {**body, "metadata": dict(body["metadata"])}
        if not pod["metadata"]["labels"]:
            raise ControllerError("unable to create pods, no labels")
        try:
            created = await self.client.create(PODS, _meta(rs)["namespace"], pod)
        except ApiError as e:
            if _has_cause(e, NAMESPACE_TERMINATING_CAUSE):
                return  # the namespace is going away: not worth an event or a retry
            self.recorder.event(rs, WARNING, FAILED_CREATE, f"Error creating: {e.message}")
            raise
        self.recorder.event(rs, NORMAL, SUCCESSFUL_CREATE, f"Created pod: {_meta(created)['name']}")

    async def _delete_pods(self, rs: Obj, key: str, pods: list[Obj], count: int) -> None:
        related = self._indirectly_related_pods(rs)
        victims = pods_to_delete(pods, related, count, self.clock.now())
        # Expect the deletions by pod key, so only these pods' deletions satisfy them.
        self.expectations.expect_deletions(key, [podutil.pod_key(p) for p in victims])
        results = await asyncio.gather(*(self._delete_pod_for(rs, key, p) for p in victims),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _delete_pod_for(self, rs: Obj, key: str, pod: Obj) -> None:
        md = _meta(pod)
        try:
            await self.client.delete(PODS, md["namespace"], md["name"])
        except ApiError as e:
            # This deletion will never be observed as ours: stop waiting for it.
            self.expectations.deletion_observed(key, podutil.pod_key(pod))
            if e.code == 404:
                return  # already gone
            self.recorder.event(rs, WARNING, FAILED_DELETE, f"Error deleting: {e.message}")
            raise ApiError(e.code, e.reason, f"unable to delete pods: {e.message}", details=e.details) from e
        self.recorder.event(rs, NORMAL, SUCCESSFUL_DELETE, f"Deleted pod: {md['name']}")

    def _indirectly_related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet sharing rs's controller (its Deployment's other revisions),
        so scale-down prefers nodes where that Deployment is doubled up."""
        ref = podutil.get_controller_of(rs)
        if ref is None:
            return []
        namespace = _meta(rs).get("namespace", "")
        seen: set[str] = set()
        related: list[Obj] = []
        for other in self.rs_informer.indexer.by_index(podutil.CONTROLLER_UID_INDEX, ref.get("uid", "")):
            if _meta(other).get("namespace") != namespace:
                continue
            try:
                selector = LabelSelector.from_dict((other.get("spec") or {}).get("selector"))
            except ApiError:
                continue
            for pod in podutil.matching(self.pod_informer.indexer, namespace, selector):
                uid = _meta(pod).get("uid", "")
                if uid not in seen:
                    seen.add(uid)
                    related.append(pod)
        return related

    # ---- status --------------------------------------------------------------------------------

    async def _update_status(self, rs: Obj, status: Obj) -> Obj:
        """Write status through the status subresource, only when it changed; one retry on a
        fresh copy if the write fails (updateReplicaSetStatus)."""
        if status_unchanged(rs, status):
            return rs
        status = dict(status)
        generation = _meta(rs).get("generation")
        status.pop("observedGeneration", None)
        if generation:
            status["observedGeneration"] = generation
        current = rs
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            body = {**current, "status": status}
            try:
                return await self.client.update(REPLICASETS, body, subresource="status")
            except ApiError:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
            current = await self.client.get(REPLICASETS, _meta(rs)["namespace"], _meta(rs)["name"])
        raise AssertionError("unreachable")


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int, now: Any) -> list[Obj]:
    """The `count` pods to delete first (getPodsToDelete): cheapest to lose, by Kubernetes' ranking."""
    if count < len(pods):
        ranks = podutil.ranks_by_related_pods_on_node(pods, related)
        pods = podutil.rank_pods_for_deletion(pods, ranks, now, count)
    return pods[:count]
