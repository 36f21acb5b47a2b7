"""Finding or creating the new ReplicaSet, scaling, history clean-up and status
(Kubernetes' pkg/controller/deployment/sync.go).

Every function takes the controller (`dc`) for its client, recorder and clock, a working copy
`d` of the Deployment, and `rs_list`, the ReplicaSets it owns; writes replace the entries of
rs_list and the resourceVersion of d, so later steps of the same sync see their own writes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kubeling.api.errors import ApiError
from kubeling.client.base import Obj, json_copy
from kubeling.client.events import NORMAL, WARNING
from kubeling.controllers.deployment import util
from kubeling.controllers.deployment.util import replicas
from kubeling.controllers.podutil import get_controller_of, new_controller_ref

if TYPE_CHECKING:
    from kubeling.controllers.deployment.controller import DeploymentController


async def sync_status_only(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def sync(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    """Reconcile a scaling event or a paused Deployment: resize, never roll out."""
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    await scale(dc, d, new_rs, old_rss)
    if d["spec"].get("paused"):
        await cleanup_deployment(dc, old_rss, d)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def check_paused_conditions(dc: DeploymentController, d: Obj) -> None:
    """Mark pausing and resuming with an Unknown Progressing condition, so time spent paused
    never counts toward the progress deadline."""
    if not util.has_progress_deadline(d):
        return
    status = d.setdefault("status", {})
    cond = util.get_condition(status, util.PROGRESSING)
    if cond is not None and cond.get("reason") == util.TIMED_OUT:
        return  # a reported lack of progress is not overwritten
    paused_cond = cond is not None and cond.get("reason") == util.PAUSED
    now = dc.clock.now()
    if d["spec"].get("paused") and not paused_cond:
        util.set_condition(status, util.new_condition(util.PROGRESSING, "Unknown", util.PAUSED,
                                                      "Deployment is paused", now))
    elif not d["spec"].get("paused") and paused_cond:
        util.set_condition(status, util.new_condition(util.PROGRESSING, "Unknown", util.RESUMED,
                                                      "Deployment is resumed", now))
    else:
        return
    await dc.update_status(d)


async def get_all_replica_sets_and_sync_revision(dc: DeploymentController, d: Obj, rs_list: list[Obj],
                                                 create: bool) -> tuple[Obj | None, list[Obj]]:
    old_rss = util.find_old_replica_sets(d, rs_list)
    new_rs = await get_new_replica_set(dc, d, rs_list, old_rss, create)
    return new_rs, old_rss


async def get_new_replica_set(dc: DeploymentController, d: Obj, rs_list: list[Obj], old_rss: list[Obj],
                              create: bool) -> Obj | None:
    """The ReplicaSet running d's template, its annotations and revision brought up to date;
    created (scaled as far as the strategy allows) when missing and `create` is set."""
    existing = util.find_new_replica_set(d, rs_list)
    new_revision = util.max_revision(old_rss) + 1
    if existing is not None:
        return await _sync_existing_new_rs(dc, d, rs_list, existing, new_revision)
    if not create:
        return None
    return await _create_new_rs(dc, d, rs_list, old_rss, new_revision)


async def _sync_existing_new_rs(dc: DeploymentController, d: Obj, rs_list: list[Obj], existing: Obj,
                                new_revision: int) -> Obj:
    rs = json_copy(existing)
    changed = util.set_new_replica_set_annotations(d, rs, new_revision, True)
    min_ready = d["spec"].get("minReadySeconds") or 0
    if changed or (rs["spec"].get("minReadySeconds") or 0) != min_ready:
        rs["spec"]["minReadySeconds"] = min_ready
        updated = await dc.update_replica_set(rs)
        rs_list[:] = [updated if util.uid(x) == util.uid(updated) else x for x in rs_list]
        return updated
    needs_update = util.set_deployment_revision(d, util.annotations(rs).get(util.REVISION, ""))
    status = d.setdefault("status", {})
    if util.has_progress_deadline(d) and util.get_condition(status, util.PROGRESSING) is None:
        msg = f'Found new replica set "{util.name(rs)}"'
        util.set_condition(status, util.new_condition(util.PROGRESSING, "True", util.FOUND_NEW_RS, msg,
                                                      dc.clock.now()))
        needs_update = True
    if needs_update:
        await dc.update_status(d)
    return rs


def _new_rs_object(d: Obj, pod_hash: str) -> Obj:
    template = json_copy(d["spec"]["template"])
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[util.POD_TEMPLATE_HASH] = pod_hash
    template.setdefault("metadata", {})["labels"] = labels
    selector = json_copy(d["spec"]["selector"])
    selector.setdefault("matchLabels", {})[util.POD_TEMPLATE_HASH] = pod_hash
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{util.name(d)}-{pod_hash}", "namespace": d["metadata"]["namespace"],
                     "ownerReferences": [new_controller_ref(d)], "labels": dict(labels)},
        "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds") or 0,
                 "selector": selector, "template": template},
    }


async def _create_new_rs(dc: DeploymentController, d: Obj, rs_list: list[Obj], old_rss: list[Obj],
                         new_revision: int) -> Obj | None:
    status = d.setdefault("status", {})
    pod_hash = util.compute_hash(d["spec"]["template"], status.get("collisionCount"))
    new_rs = _new_rs_object(d, pod_hash)
    count = util.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
    new_rs["spec"]["replicas"] = count
    util.set_new_replica_set_annotations(d, new_rs, new_revision, False)
    rs_name = new_rs["metadata"]["name"]
    already_exists = False
    try:
        created = await dc.client.create(dc.REPLICASETS, d["metadata"]["namespace"], new_rs)
    except ApiError as e:
        if e.code == 409 and e.reason == "AlreadyExists":
            created = await _existing_or_collision(dc, d, rs_name, e)
            already_exists = True
        elif _namespace_terminating(e):
            raise
        else:
            msg = f'Failed to create new replica set "{rs_name}": {e.message}'
            if util.has_progress_deadline(d):
                util.set_condition(status, util.new_condition(util.PROGRESSING, "False", util.FAILED_RS_CREATE,
                                                              msg, dc.clock.now()))
                try:
                    await dc.update_status(d)
                except ApiError:
                    pass  # the creation failure is the bigger issue to report
            dc.recorder.event(d, WARNING, util.FAILED_RS_CREATE, msg)
            raise
    else:
        rs_list.append(created)
    if not already_exists and count > 0:
        dc.recorder.event(d, NORMAL, "ScalingReplicaSet",
                          f"Scaled up replica set {util.name(created)} from 0 to {count}")
    needs_update = util.set_deployment_revision(d, str(new_revision))
    if not already_exists and util.has_progress_deadline(d):
        msg = f'Created new replica set "{util.name(created)}"'
        util.set_condition(status, util.new_condition(util.PROGRESSING, "True", util.NEW_REPLICA_SET, msg,
                                                      dc.clock.now()))
        needs_update = True
    if needs_update:
        await dc.update_status(d)
    return created


async def _existing_or_collision(dc: DeploymentController, d: Obj, rs_name: str, err: ApiError) -> Obj:
    """A ReplicaSet of that name exists: ours with our template, or a hash collision, which
    bumps status.collisionCount so that the next sync computes another name."""
    rs = dc.replica_set_informer.indexer.get(f"{d['metadata']['namespace']}/{rs_name}")
    if rs is None:
        rs = await dc.client.get(dc.REPLICASETS, d["metadata"]["namespace"], rs_name)
    ref = get_controller_of(rs)
    if ref is not None and ref.get("uid") == util.uid(d) and util.equal_ignore_hash(
            d["spec"]["template"], rs["spec"]["template"]):
        return rs
    status = d.setdefault("status", {})
    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
    try:
        await dc.update_status(d)
    except ApiError:
        pass
    raise err


def _namespace_terminating(e: ApiError) -> bool:
    causes = (e.details or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)


# ---- scaling ------------------------------------------------------------------------------------

async def scale(dc: DeploymentController, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
    """Resize for a changed spec.replicas: all to the only active ReplicaSet, or spread
    proportionally over the active ones in the middle of a rollout."""
    active_or_latest = util.find_active_or_latest(new_rs, old_rss)
    if active_or_latest is not None:
        if replicas(active_or_latest) != replicas(d):
            await scale_replica_set_and_record_event(dc, active_or_latest, replicas(d), d)
        return
    if util.is_saturated(d, new_rs):
        for old in util.filter_active(old_rss):
            await scale_replica_set_and_record_event(dc, old, 0, d)
        return
    if not util.is_rolling_update(d):
        return
    all_rss = util.filter_active([*old_rss, new_rs])
    allowed = replicas(d) + util.max_surge(d) if replicas(d) > 0 else 0
    to_add = allowed - util.replica_count(all_rss)
    operation = ""
    if to_add > 0:
        all_rss, operation = util.by_size_newer(all_rss), "up"
    elif to_add < 0:
        all_rss, operation = util.by_size_older(all_rss), "down"
    added = 0
    sizes: dict[str, int] = {}
    for rs in all_rss:
        if to_add != 0:
            proportion = util.get_proportion(rs, d, to_add, added)
            sizes[util.name(rs)] = replicas(rs) + proportion
            added += proportion
        else:
            sizes[util.name(rs)] = replicas(rs)
    for i, rs in enumerate(all_rss):
        if i == 0 and to_add != 0:  # leftovers go to the largest
            sizes[util.name(rs)] = max(sizes[util.name(rs)] + to_add - added, 0)
        await scale_replica_set(dc, rs, sizes[util.name(rs)], d, operation)


async def scale_replica_set_and_record_event(dc: DeploymentController, rs: Obj, new_scale: int,
                                             d: Obj) -> tuple[bool, Obj]:
    if replicas(rs) == new_scale:
        return False, rs
    return await scale_replica_set(dc, rs, new_scale, d, "up" if replicas(rs) < new_scale else "down")


async def scale_replica_set(dc: DeploymentController, rs: Obj, new_scale: int, d: Obj,
                            operation: str) -> tuple[bool, Obj]:
    """Set spec.replicas and the desired/max-replicas annotations; a size change is an Event."""
    max_replicas = replicas(d) + util.max_surge(d)
    size_changed = replicas(rs) != new_scale
    if not size_changed and not util.replicas_annotations_need_update(rs, replicas(d), max_replicas):
        return False, rs
    old_scale = replicas(rs)
    rs_copy = json_copy(rs)
    rs_copy["spec"]["replicas"] = new_scale
    util.set_replicas_annotations(rs_copy, replicas(d), max_replicas)
    updated = await dc.update_replica_set(rs_copy)
    if size_changed:
        dc.recorder.event(d, NORMAL, "ScalingReplicaSet",
                          f"Scaled {operation} replica set {util.name(updated)} from {old_scale} to {new_scale}")
    return size_changed, updated


# ---- history ------------------------------------------------------------------------------------

async def cleanup_deployment(dc: DeploymentController, old_rss: list[Obj], d: Obj) -> None:
    """Delete the oldest scaled-down ReplicaSets beyond revisionHistoryLimit."""
    if not util.has_revision_history_limit(d):
        return
    cleanable = [rs for rs in old_rss if rs is not None and not rs["metadata"].get("deletionTimestamp")]
    diff = len(cleanable) - int(d["spec"]["revisionHistoryLimit"])
    if diff <= 0:
        return
    for rs in util.by_revision(cleanable)[:diff]:
        observed = util.status_int(rs, "observedGeneration")
        if (util.status_int(rs, "replicas") != 0 or replicas(rs) != 0
                or int(rs["metadata"].get("generation") or 0) > observed):
            continue  # still has (or may have) pods
        try:
            await dc.client.delete(dc.REPLICASETS, rs["metadata"]["namespace"], util.name(rs))
        except ApiError as e:
            if e.code != 404:
                raise


# ---- status -------------------------------------------------------------------------------------

def calculate_status(all_rss: list[Obj | None], new_rs: Obj | None, d: Obj, now: dt.datetime) -> Obj:
    """Counts summed over the ReplicaSets, and the Available condition."""
    available = util.actual_count(all_rss, "availableReplicas")
    unavailable = max(util.replica_count(all_rss) - available, 0)
    old = d.get("status") or {}
    fields = {
        "observedGeneration": int(d["metadata"].get("generation") or 0),
        "replicas": util.actual_count(all_rss),
        "updatedReplicas": util.actual_count([new_rs]),
        "readyReplicas": util.actual_count(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    status: Obj = {k: v for k, v in fields.items() if v}  # Go's omitempty
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = json_copy(old["conditions"])
    if available >= replicas(d) - util.max_unavailable(d):
        cond = util.new_condition(util.AVAILABLE, "True", util.MIN_AVAILABLE,
                                  "Deployment has minimum availability.", now)
    else:
        cond = util.new_condition(util.AVAILABLE, "False", util.MIN_UNAVAILABLE,
                                  "Deployment does not have minimum availability.", now)
    util.set_condition(status, cond)
    return status


def same_status(a: Obj | None, b: Obj | None) -> bool:
    return _omit_empty(a or {}) == _omit_empty(b or {})


def _omit_empty(status: Obj) -> Obj:
    return {k: v for k, v in status.items() if v not in (None, 0, [], {})}


async def sync_deployment_status(dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj | None,
                                 d: Obj) -> None:
    new_status = calculate_status(all_rss, new_rs, d, dc.clock.now())
    if same_status(d.get("status"), new_status):
        return
    d["status"] = new_status
    await dc.update_status(d)


async def is_scaling_event(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> bool:
    """spec.replicas differs from what an active ReplicaSet was last sized for."""
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    for rs in util.filter_active([*old_rss, new_rs]):
        desired = util.desired_replicas_annotation(rs)
        if desired is not None and desired != replicas(d):
            return True
    return False
