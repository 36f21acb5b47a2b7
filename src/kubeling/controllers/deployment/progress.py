"""The Progressing condition and the progress deadline (Kubernetes' pkg/controller/deployment/progress.go)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kubeling.api.meta import parse_time
from kubeling.client.base import Obj
from kubeling.controllers.deployment import util
from kubeling.controllers.deployment.sync import calculate_status, same_status

if TYPE_CHECKING:
    from kubeling.controllers.deployment.controller import DeploymentController

MIN_REQUEUE = 0.005  # "now", rate limited: the first step of the work queue's backoff


async def sync_rollout_status(dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj | None,
                              d: Obj) -> float | None:
    """Write the status with the Progressing condition brought up to date; returns when to
    look again for a progress-deadline check (None: no need)."""
    now = dc.clock.now()
    new_status = calculate_status(all_rss, new_rs, d, now)
    if not util.has_progress_deadline(d):
        util.remove_condition(new_status, util.PROGRESSING)
    current = util.get_condition(d.get("status") or {}, util.PROGRESSING)
    complete = (int(new_status.get("replicas") or 0) == int(new_status.get("updatedReplicas") or 0)
                and current is not None and current.get("reason") == util.NEW_RS_AVAILABLE)
    if util.has_progress_deadline(d) and not complete:
        _update_progressing(d, new_status, new_rs, current, now)
    failure = _replica_failure(all_rss, new_rs)
    if failure is not None:
        util.set_condition(new_status, failure)
    else:
        util.remove_condition(new_status, util.REPLICA_FAILURE)
    if same_status(d.get("status"), new_status):
        return requeue_stuck_deployment(d, new_status, now)
    d["status"] = new_status
    await dc.update_status(d)
    return None


def _update_progressing(d: Obj, new_status: Obj, new_rs: Obj | None, current: Obj | None,
                        now: dt.datetime) -> None:
    subject = f'ReplicaSet "{util.name(new_rs)}"' if new_rs is not None else f'Deployment "{util.name(d)}"'
    if util.deployment_complete(d, new_status):
        util.set_condition(new_status, util.new_condition(
            util.PROGRESSING, "True", util.NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", now))
    elif util.deployment_progressing(d, new_status):
        cond = util.new_condition(util.PROGRESSING, "True", util.REPLICA_SET_UPDATED,
                                  f"{subject} is progressing.", now)
        # Progress moves lastUpdateTime even when the reason stays the same.
        if current is not None:
            if current.get("status") == "True":
                cond["lastTransitionTime"] = current.get("lastTransitionTime")
            util.remove_condition(new_status, util.PROGRESSING)
        util.set_condition(new_status, cond)
    elif util.deployment_timed_out(d, new_status, now):
        util.set_condition(new_status, util.new_condition(
            util.PROGRESSING, "False", util.TIMED_OUT, f"{subject} has timed out progressing.", now))


def _replica_failure(all_rss: list[Obj | None], new_rs: Obj | None) -> Obj | None:
    """The ReplicaFailure condition of the new ReplicaSet first, else of any other."""
    for rs in [new_rs, *all_rss]:
        for c in ((rs or {}).get("status") or {}).get("conditions") or []:
            if c.get("type") == util.REPLICA_FAILURE:
                return {"type": c["type"], "status": c.get("status"), "lastUpdateTime": c.get("lastTransitionTime"),
                        "lastTransitionTime": c.get("lastTransitionTime"), "reason": c.get("reason"),
                        "message": c.get("message")}
    return None


def requeue_stuck_deployment(d: Obj, new_status: Obj, now: dt.datetime) -> float | None:
    """Seconds until the deadline of a rollout showing no progress (plus one against skew)."""
    current = util.get_condition(d.get("status") or {}, util.PROGRESSING)
    if not util.has_progress_deadline(d) or current is None:
        return None
    if util.deployment_complete(d, new_status) or current.get("reason") == util.TIMED_OUT:
        return None
    deadline = parse_time(current["lastUpdateTime"]) + dt.timedelta(seconds=d["spec"]["progressDeadlineSeconds"])
    after = (deadline - now).total_seconds()
    if after < 1:
        return MIN_REQUEUE
    return after + 1
