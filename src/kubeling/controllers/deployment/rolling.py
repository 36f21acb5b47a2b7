"""The RollingUpdate strategy (Kubernetes' pkg/controller/deployment/rolling.go).

Each sync makes one step: scale the new ReplicaSet up within replicas + maxSurge, or else
scale old ones down while keeping replicas - maxUnavailable pods available.
"""

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


async def rollout_rolling(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> float | None:
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, True)
    all_rss = [*old_rss, new_rs]
    if await reconcile_new_replica_set(dc, all_rss, new_rs, d):
        return await sync_rollout_status(dc, all_rss, new_rs, d)
    if await reconcile_old_replica_sets(dc, all_rss, util.filter_active(old_rss), new_rs, d):
        return await sync_rollout_status(dc, all_rss, new_rs, d)
    if util.deployment_complete(d, d.get("status") or {}):
        await cleanup_deployment(dc, old_rss, d)
    return await sync_rollout_status(dc, all_rss, new_rs, d)


async def reconcile_new_replica_set(dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj,
                                    d: Obj) -> bool:
    if replicas(new_rs) == replicas(d):
        return False
    if replicas(new_rs) > replicas(d):
        scaled, _ = await scale_replica_set_and_record_event(dc, new_rs, replicas(d), d)
        return scaled
    count = util.new_rs_new_replicas(d, all_rss, new_rs)
    scaled, _ = await scale_replica_set_and_record_event(dc, new_rs, count, d)
    return scaled


async def reconcile_old_replica_sets(dc: DeploymentController, all_rss: list[Obj | None], old_rss: list[Obj],
                                     new_rs: Obj, d: Obj) -> bool:
    """Scale old ReplicaSets down as far as availability allows; unhealthy replicas first,
    since removing them costs no availability."""
    if util.replica_count(old_rss) == 0:
        return False
    all_pods = util.replica_count(all_rss)
    min_available = replicas(d) - util.max_unavailable(d)
    new_unavailable = replicas(new_rs) - util.status_int(new_rs, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old_rss, cleaned = await cleanup_unhealthy_replicas(dc, old_rss, d, max_scaled_down)
    scaled = await scale_down_old_replica_sets_for_rolling_update(dc, [*old_rss, new_rs], old_rss, d)
    return cleaned + scaled > 0


async def cleanup_unhealthy_replicas(dc: DeploymentController, old_rss: list[Obj], d: Obj,
                                     max_cleanup: int) -> tuple[list[Obj], int]:
    old_rss = util.by_creation(old_rss)
    total = 0
    for i, rs in enumerate(old_rss):
        if total >= max_cleanup:
            break
        available = util.status_int(rs, "availableReplicas")
        if replicas(rs) == 0 or replicas(rs) == available:
            continue  # nothing to scale down, or no unhealthy replicas
        count = min(max_cleanup - total, replicas(rs) - available)
        _, old_rss[i] = await scale_replica_set_and_record_event(dc, rs, replicas(rs) - count, d)
        total += count
    return old_rss, total


async def scale_down_old_replica_sets_for_rolling_update(dc: DeploymentController, all_rss: list[Obj | None],
                                                         old_rss: list[Obj], d: Obj) -> int:
    min_available = replicas(d) - util.max_unavailable(d)
    available = util.actual_count(all_rss, "availableReplicas")
    if available <= min_available:
        return 0
    target = available - min_available
    total = 0
    for rs in util.by_creation(old_rss):
        if total >= target:
            break
        if replicas(rs) == 0:
            continue
        count = min(replicas(rs), target - total)
        await scale_replica_set_and_record_event(dc, rs, replicas(rs) - count, d)
        total += count
    return total
