"""The Recreate strategy (Kubernetes' pkg/controller/deployment/recreate.go): scale every
old ReplicaSet to 0, wait until their pods are gone, then create and scale up the new one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubeling.client.base import Obj
from kubeling.controllers.deployment import util
from kubeling.controllers.deployment.progress import sync_rollout_status
from kubeling.controllers.deployment.sync import (cleanup_deployment, get_all_replica_sets_and_sync_revision,
                                                  scale_replica_set_and_record_event)
from kubeling.controllers.deployment.util import replicas

if TYPE_CHECKING:
    from kubeling.controllers.deployment.controller import DeploymentController


async def rollout_recreate(dc: DeploymentController, d: Obj, rs_list: list[Obj],
                           pod_map: dict[str, list[Obj]]) -> float | None:
    # No new ReplicaSet yet: creating it now would scale up before the old pods are gone.
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    all_rss = [*old_rss, new_rs]
    scaled_down = False
    for rs in util.filter_active(old_rss):
        scaled, _ = await scale_replica_set_and_record_event(dc, rs, 0, d)
        scaled_down = scaled_down or scaled
    if scaled_down or old_pods_running(new_rs, old_rss, pod_map):
        return await sync_rollout_status(dc, all_rss, new_rs, d)
    if new_rs is None:
        new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, True)
        all_rss = [*old_rss, new_rs]
    if new_rs is not None and replicas(new_rs) != replicas(d):
        await scale_replica_set_and_record_event(dc, new_rs, replicas(d), d)
    if util.deployment_complete(d, d.get("status") or {}):
        await cleanup_deployment(dc, old_rss, d)
    return await sync_rollout_status(dc, all_rss, new_rs, d)


def old_pods_running(new_rs: Obj | None, old_rss: list[Obj], pod_map: dict[str, list[Obj]]) -> bool:
    """Any old ReplicaSet still counting pods, or any non-terminal pod of one."""
    if util.actual_count(old_rss) > 0:
        return True
    for rs_uid, pods in pod_map.items():
        if new_rs is not None and rs_uid == util.uid(new_rs):
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False
