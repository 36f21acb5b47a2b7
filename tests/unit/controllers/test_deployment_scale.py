"""sync.scale's proportional arithmetic, table-driven, against a stub controller that records writes."""

from __future__ import annotations

import pytest

from kubeling.client.clock import FakeClock
from kubeling.controllers.deployment import sync, util


class StubRecorder:
    def __init__(self):
        self.events = []

    def event(self, obj, type, reason, message):
        self.events.append((type, reason, message))


class StubController:
    def __init__(self):
        self.recorder = StubRecorder()
        self.clock = FakeClock()
        self.writes = []

    async def update_replica_set(self, rs):
        self.writes.append(rs)
        return rs


def deployment(replicas, surge, unavailable):
    return {"metadata": {"name": "web", "namespace": "default", "generation": 2},
            "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": surge, "maxUnavailable": unavailable}}}, "status": {}}


def rs(name, replicas, second, max_replicas):
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": f"2026-01-01T00:00:{second:02d}Z",
                         "annotations": {util.MAX_REPLICAS: str(max_replicas), util.DESIRED_REPLICAS: "0"}},
            "spec": {"replicas": replicas}, "status": {}}


@pytest.mark.parametrize("d,old,new,want,max_replicas", [
    # The documentation's example: 10 -> 15 mid-rollout, surge 3: +3 old, +2 new.
    (deployment(15, 3, 2), [("old", 8)], ("new", 5), {"old": 11, "new": 7}, 13),
    # Scaling down: the fractions round to nothing, the leftover goes to the largest (oldest on ties).
    (deployment(1, 0, 1), [("a", 1)], ("b", 1), {"a": 0, "b": 1}, 2),
    # The new ReplicaSet's share is capped by what is left to add.
    (deployment(11, 3, 2), [("old", 8)], ("new", 5), {"old": 9, "new": 5}, 13),
    # Scaling to zero empties every ReplicaSet.
    (deployment(0, 3, 2), [("o1", 2), ("o2", 3)], ("new", 4), {"o1": 0, "o2": 0, "new": 0}, 13),
])
async def test_proportional_scale(d, old, new, want, max_replicas):
    dc = StubController()
    old_rss = [rs(n, r, i, max_replicas) for i, (n, r) in enumerate(old)]
    new_rs = rs(new[0], new[1], 30, max_replicas)
    await sync.scale(dc, d, new_rs, old_rss)
    sizes = {r["metadata"]["name"]: r["spec"]["replicas"] for r in [*old_rss, new_rs]}
    sizes.update({w["metadata"]["name"]: w["spec"]["replicas"] for w in dc.writes})
    assert sizes == want
    for w in dc.writes:  # every write records the new desired and max sizes
        assert w["metadata"]["annotations"][util.DESIRED_REPLICAS] == str(util.replicas(d))
        assert w["metadata"]["annotations"][util.MAX_REPLICAS] == str(util.replicas(d) + util.max_surge(d))
    assert len(dc.recorder.events) == sum(1 for n, r in [*old, new] if want[n] != r)


async def test_scale_only_active_replica_set_takes_everything():
    dc = StubController()
    d = deployment(7, 1, 0)
    old, new = rs("old", 0, 0, 4), rs("new", 3, 30, 4)
    await sync.scale(dc, d, new, [old])
    [w] = dc.writes
    assert (w["metadata"]["name"], w["spec"]["replicas"]) == ("new", 7)
    assert dc.recorder.events == [("Normal", "ScalingReplicaSet", "Scaled up replica set new from 3 to 7")]
