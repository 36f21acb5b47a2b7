"""The Deployment controller (Kubernetes' pkg/controller/deployment/deployment_controller.go).

Watches Deployments, ReplicaSets and Pods through the shared informers; each Deployment key
is reconciled by claiming its ReplicaSets (adoption and release by selector), then either
syncing status only (being deleted), scaling (paused, or spec.replicas changed), or making
one step of its strategy. It never creates pods: the ReplicaSet controller does.
"""

from __future__ import annotations

import logging

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.selectors import LabelSelector
from kubeling.client.base import Client, Obj, json_copy, object_key, split_key
from kubeling.client.clock import REAL, Clock
from kubeling.client.controller import Controller
from kubeling.client.events import WARNING, EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.controllers.deployment import sync, util
from kubeling.controllers.deployment.recreate import rollout_recreate
from kubeling.controllers.deployment.rolling import rollout_rolling
from kubeling.controllers.podutil import (
    CONTROLLER_UID_INDEX,
    add_claim_indexers,
    get_controller_of,
    label_matcher,
    new_controller_ref,
    owned_or_orphaned,
)

log = logging.getLogger("kubeling.controllers.deployment")

DEPLOYMENTS = registry.lookup("apps", "v1", "deployments")
REPLICASETS = registry.lookup("apps", "v1", "replicasets")
PODS = registry.lookup("", "v1", "pods")


class DeploymentController(Controller):
    name = "deployment"
    REPLICASETS = REPLICASETS

    def __init__(self, client: Client, factory: InformerFactory, recorder: EventRecorder, *,
                 clock: Clock = REAL, workers: int = 1):
        super().__init__(workers=workers, clock=clock)
        self.client = client
        self.recorder = recorder
        self.deployment_informer = factory.informer(DEPLOYMENTS)
        self.replica_set_informer = factory.informer(REPLICASETS)
        self.pod_informer = factory.informer(PODS)
        add_claim_indexers(self.replica_set_informer.indexer)
        add_claim_indexers(self.pod_informer.indexer)
        self.deployment_informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.replica_set_informer.add_handler(self._add_replica_set, self._update_replica_set,
                                              self._delete_replica_set)
        self.pod_informer.add_handler(on_delete=self._delete_pod)
        # The revision annotation as the server has it, per key being synced (see update_status).
        self._server_revision: dict[str, str | None] = {}

    # ---- the reconcile loop ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        cached = self.deployment_informer.indexer.get(key)
        if cached is None:
            self._server_revision.pop(key, None)
            return None
        d = json_copy(cached)
        d.setdefault("status", {})
        self._server_revision[key] = util.annotations(d).get(util.REVISION)
        selector = d["spec"].get("selector") or {}
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            self.recorder.event(d, WARNING, "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            if int(d["status"].get("observedGeneration") or 0) < int(d["metadata"].get("generation") or 0):
                d["status"]["observedGeneration"] = d["metadata"]["generation"]
                await self.update_status(d)
            return None
        rs_list = await self.claim_replica_sets(d)
        if d["metadata"].get("deletionTimestamp"):
            await sync.sync_status_only(self, d, rs_list)
            return None
        await sync.check_paused_conditions(self, d)
        if d["spec"].get("paused"):
            await sync.sync(self, d, rs_list)
            return None
        if await sync.is_scaling_event(self, d, rs_list):
            await sync.sync(self, d, rs_list)
            return None
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            # Only Recreate reads the pods (the old ones must be gone): grouping them walks all of
            # them, too dear to do on every sync of a large rolling Deployment.
            return await rollout_recreate(self, d, rs_list, self.pod_map(d, rs_list))
        return await rollout_rolling(self, d, rs_list)

    # ---- writes shared by the sync steps --------------------------------------------------------

    async def update_replica_set(self, rs: Obj) -> Obj:
        return await self.client.update(REPLICASETS, rs)

    async def update_status(self, d: Obj) -> None:
        """Write d's status (resourceVersion-checked). The revision annotation, which Kubernetes
        writes in the same status update, goes first as a metadata patch: the status
        subresource here keeps only status."""
        key = object_key(d)
        ns, name = split_key(key)
        want = util.annotations(d).get(util.REVISION)
        if want is not None and self._server_revision.get(key) != want:
            patch = {"metadata": {"resourceVersion": d["metadata"]["resourceVersion"],
                                  "annotations": {util.REVISION: want}}}
            patched = await self.client.patch(DEPLOYMENTS, ns, name, patch)
            d["metadata"]["resourceVersion"] = patched["metadata"]["resourceVersion"]
            self._server_revision[key] = want
        result = await self.client.update(DEPLOYMENTS, d, subresource="status")
        d["metadata"]["resourceVersion"] = result["metadata"]["resourceVersion"]

    # ---- ownership ------------------------------------------------------------------------------

    async def claim_replica_sets(self, d: Obj) -> list[Obj]:
        """The ReplicaSets d controls: owned ones still matching its selector, plus matching
        orphans it adopts; owned ones that stopped matching are released."""
        ns = d["metadata"]["namespace"]
        selector = label_matcher(LabelSelector.from_dict(d["spec"]["selector"]))
        deleting = bool(d["metadata"].get("deletionTimestamp"))
        fresh_checked = False
        owned: list[Obj] = []
        # Its own ReplicaSets and the namespace's orphans: those of other owners are never claimed.
        candidates = owned_or_orphaned(self.replica_set_informer.indexer, ns, util.uid(d))
        for rs in util.by_creation(candidates):
            labels = rs["metadata"].get("labels") or {}
            ref = get_controller_of(rs)
            if ref is not None:
                if ref.get("uid") != util.uid(d):
                    continue
                if selector(labels):
                    owned.append(rs)
                elif not deleting:
                    await self._release(rs, d)
                continue
            if deleting or rs["metadata"].get("deletionTimestamp") or not selector(labels):
                continue
            if not fresh_checked:
                await self._can_adopt(d)
                fresh_checked = True
            adopted = await self._adopt(rs, d)
            if adopted is not None:
                owned.append(adopted)
        return owned

    async def _can_adopt(self, d: Obj) -> None:
        """Recheck with a live read that d still exists and is not being deleted."""
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        fresh = await self.client.get(DEPLOYMENTS, ns, name)
        if util.uid(fresh) != util.uid(d):
            raise RuntimeError(f"original Deployment {ns}/{name} is gone: got uid {util.uid(fresh)}, "
                               f"wanted {util.uid(d)}")
        if fresh["metadata"].get("deletionTimestamp"):
            raise RuntimeError(f"{ns}/{name} has just been deleted at {fresh['metadata']['deletionTimestamp']}")

    async def _adopt(self, rs: Obj, d: Obj) -> Obj | None:
        patch = {"metadata": {"ownerReferences": [new_controller_ref(d)], "uid": util.uid(rs)}}
        try:
            return await self.client.patch(REPLICASETS, rs["metadata"]["namespace"], util.name(rs), patch,
                                           patch_type="strategic")
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    async def _release(self, rs: Obj, d: Obj) -> None:
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": util.uid(d)}], "uid": util.uid(rs)}}
        try:
            await self.client.patch(REPLICASETS, rs["metadata"]["namespace"], util.name(rs), patch,
                                    patch_type="strategic")
        except ApiError as e:
            if e.code not in (404, 422):  # gone, or replaced by another object of that name
                raise

    def pod_map(self, d: Obj, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """d's pods (by its selector) grouped by the uid of the ReplicaSet controlling them."""
        selector = label_matcher(LabelSelector.from_dict(d["spec"]["selector"]))
        ns = d["metadata"]["namespace"]
        result: dict[str, list[Obj]] = {}
        for rs in rs_list:
            pods = self.pod_informer.indexer.by_index(CONTROLLER_UID_INDEX, util.uid(rs))
            result[util.uid(rs)] = [p for p in pods if p["metadata"].get("namespace") == ns
                                    and selector(p["metadata"].get("labels") or {})]
        return result

    # ---- informer handlers ----------------------------------------------------------------------

    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        """The Deployment a controller reference points to, if it is still that object."""
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.deployment_informer.indexer.get(f"{namespace}/{ref.get('name')}")
        return d if d is not None and util.uid(d) == ref.get("uid") else None

    def _deployments_for(self, rs: Obj) -> list[Obj]:
        labels = rs["metadata"].get("labels") or {}
        if not labels:
            return []
        found = []
        for d in self.deployment_informer.indexer.by_index("namespace", rs["metadata"].get("namespace", "")):
            sel = (d.get("spec") or {}).get("selector") or {}
            if not sel.get("matchLabels") and not sel.get("matchExpressions"):
                continue
            try:
                if LabelSelector.from_dict(sel).matches(labels):
                    found.append(d)
            except ApiError:
                continue
        return found

    def _add_replica_set(self, rs: Obj) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            self._delete_replica_set(rs)
            return
        ref = get_controller_of(rs)
        if ref is not None:
            d = self._resolve(rs["metadata"]["namespace"], ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._deployments_for(rs):  # an orphan: whoever matches may adopt it
            self.enqueue(d)

    def _update_replica_set(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return  # a resync: nothing changed
        cur_ref, old_ref = get_controller_of(cur), get_controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            d = self._resolve(old["metadata"]["namespace"], old_ref)
            if d is not None:
                self.enqueue(d)
        if cur_ref is not None:
            d = self._resolve(cur["metadata"]["namespace"], cur_ref)
            if d is not None:
                self.enqueue(d)
            return
        labels_changed = (old["metadata"].get("labels") or {}) != (cur["metadata"].get("labels") or {})
        if labels_changed or ref_changed:
            for d in self._deployments_for(cur):
                self.enqueue(d)

    def _delete_replica_set(self, rs: Obj) -> None:
        d = self._resolve(rs["metadata"]["namespace"], get_controller_of(rs))
        if d is not None:
            self.enqueue(d)

    def _delete_pod(self, pod: Obj) -> None:
        """A Recreate rollout waits for the old pods to be gone: look again when one goes."""
        ref = get_controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        ns = pod["metadata"]["namespace"]
        rs = self.replica_set_informer.indexer.get(f"{ns}/{ref.get('name')}")
        if rs is None or util.uid(rs) != ref.get("uid"):
            return
        d = self._resolve(ns, get_controller_of(rs))
        if d is not None and ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(d)
