"""Pure helpers of the Deployment controller: fenceposts, hashing, proportions, sorting, conditions."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from kubeling.controllers.deployment import util

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def deployment(replicas=10, surge="25%", unavailable="25%", strategy="RollingUpdate", **spec):
    s = {"replicas": replicas, "strategy": {"type": strategy}, "selector": {"matchLabels": {"app": "web"}},
         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    if strategy == "RollingUpdate":
        s["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    s.update(spec)
    return {"metadata": {"name": "web", "namespace": "default", "generation": 1}, "spec": s, "status": {}}


def rs(name, replicas, created="2026-01-01T00:00:00Z", annotations=None, available=0, uid=None):
    return {"metadata": {"name": name, "uid": uid or name, "creationTimestamp": created,
                         "annotations": dict(annotations or {})},
            "spec": {"replicas": replicas}, "status": {"availableReplicas": available}}


@pytest.mark.parametrize("surge,unavailable,desired,want", [
    ("25%", "25%", 4, (1, 1)),
    ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable down
    ("50%", "50%", 5, (3, 2)),
    (0, "1%", 2, (0, 1)),  # both resolve to 0: one may be unavailable
    ("1%", "25%", 2, (1, 0)),
    (1, 0, 3, (1, 0)),
    (0, 0, 3, (0, 1)),
    (2, 5, 3, (2, 5)),
])
def test_resolve_fenceposts(surge, unavailable, desired, want):
    assert util.resolve_fenceposts(surge, unavailable, desired) == want


@pytest.mark.parametrize("d,surge,unavailable", [
    (deployment(10, 3, 2), 3, 2),
    (deployment(3, 0, 5), 0, 3),  # never more unavailable than replicas
    (deployment(0, 1, 1), 1, 0),  # nothing to keep available at 0 replicas
    (deployment(4, strategy="Recreate"), 0, 0),
])
def test_max_surge_and_unavailable(d, surge, unavailable):
    assert (util.max_surge(d), util.max_unavailable(d)) == (surge, unavailable)


def test_fnv32a_vectors():
    assert util.fnv32a(b"") == 0x811C9DC5
    assert util.fnv32a(b"a") == 0xE40C292C
    assert util.fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_maps_digits_onto_the_alphabet():
    assert util.safe_encode("0123456789") == "456789bcdf"


def test_compute_hash_is_stable_and_collision_count_changes_it():
    template = deployment()["spec"]["template"]
    h = util.compute_hash(template)
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{1,10}", h)
    assert util.compute_hash({**template}) == h
    reordered = {"spec": template["spec"], "metadata": template["metadata"]}
    assert util.compute_hash(reordered) == h  # canonical: key order does not matter
    assert util.compute_hash(template, 1) not in (h, util.compute_hash(template, 2))


def test_equal_ignore_hash():
    t = deployment()["spec"]["template"]
    with_hash = {"metadata": {"labels": {"app": "web", util.POD_TEMPLATE_HASH: "abc"}}, "spec": t["spec"]}
    assert util.equal_ignore_hash(t, with_hash)
    with_empty = {**t, "metadata": {**t["metadata"], "annotations": {}}}
    assert util.equal_ignore_hash(t, with_empty)  # empty and absent maps are the same
    other = {"metadata": t["metadata"], "spec": {"containers": [{"name": "c", "image": "j"}]}}
    assert not util.equal_ignore_hash(t, other)


def test_proportional_scaling_like_the_documentation():
    """10 replicas, surge 3, mid-rollout old=8 new=5, scaled to 15: old gets 3 more, new 2."""
    d = deployment(15, 3, 2)
    old = rs("old", 8, annotations={util.MAX_REPLICAS: "13"})
    new = rs("new", 5, "2026-01-01T00:01:00Z", annotations={util.MAX_REPLICAS: "13"})
    to_add = 18 - 13
    added = 0
    sizes = {}
    for r in util.by_size_newer([old, new]):
        p = util.get_proportion(r, d, to_add, added)
        sizes[r["metadata"]["name"]] = r["spec"]["replicas"] + p
        added += p
    assert sizes == {"old": 11, "new": 7}


@pytest.mark.parametrize("d,all_replicas,new,want", [
    (deployment(10, 3, 2), [10, 0], 0, 3),  # up to replicas + surge
    (deployment(10, 3, 2), [8, 3], 3, 5),
    (deployment(10, 3, 2), [10, 3], 3, 3),  # at the ceiling already
    (deployment(3, 5, 0), [3, 0], 0, 3),  # never beyond replicas
    (deployment(3, strategy="Recreate"), [3, 0], 0, 3),
])
def test_new_rs_new_replicas(d, all_replicas, new, want):
    rss = [rs(f"r{i}", n) for i, n in enumerate(all_replicas)]
    new_rs = rss[-1]
    new_rs["spec"]["replicas"] = new
    assert util.new_rs_new_replicas(d, rss, new_rs) == want


def test_sorting():
    a = rs("a", 2, "2026-01-01T00:00:00Z", {util.REVISION: "3"})
    b = rs("b", 2, "2026-01-01T00:00:05Z", {util.REVISION: "1"})
    c = rs("c", 5, "2026-01-01T00:00:09Z", {util.REVISION: "2"})
    names = lambda rss: [r["metadata"]["name"] for r in rss]  # noqa: E731
    assert names(util.by_creation([c, b, a])) == ["a", "b", "c"]
    assert names(util.by_size_newer([a, b, c])) == ["c", "b", "a"]
    assert names(util.by_size_older([c, b, a])) == ["c", "a", "b"]
    assert names(util.by_revision([a, b, c])) == ["b", "c", "a"]


def test_find_active_or_latest():
    old1, old2 = rs("o1", 0, "2026-01-01T00:00:00Z"), rs("o2", 0, "2026-01-01T00:00:05Z")
    assert util.find_active_or_latest(None, [old1, old2]) is old2  # none active: the newest
    assert util.find_active_or_latest(rs("n", 0), [rs("o", 3)])["metadata"]["name"] == "o"
    assert util.find_active_or_latest(rs("n", 1), [rs("o", 3)]) is None


def test_new_replica_set_annotations_on_rollback_keep_history():
    d = deployment()
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "undo", util.LAST_APPLIED: "{}",
                                    util.REVISION: "9"}
    r = rs("web-1", 0, annotations={util.REVISION: "1"})
    assert util.set_new_replica_set_annotations(d, r, 4, True)
    ann = r["metadata"]["annotations"]
    assert ann[util.REVISION] == "4" and ann[util.REVISION_HISTORY] == "1"
    assert ann["kubernetes.io/change-cause"] == "undo" and util.LAST_APPLIED not in ann
    assert util.DESIRED_REPLICAS not in ann  # only set on creation
    assert not util.set_new_replica_set_annotations(d, r, 4, True)
    fresh = rs("web-2", 0)
    util.set_new_replica_set_annotations(d, fresh, 5, False)
    assert fresh["metadata"]["annotations"][util.DESIRED_REPLICAS] == "10"
    assert fresh["metadata"]["annotations"][util.MAX_REPLICAS] == "13"
    assert util.REVISION_HISTORY not in fresh["metadata"]["annotations"]


def test_set_condition_keeps_transition_time_when_status_unchanged():
    status = {}
    util.set_condition(status, util.new_condition("Progressing", "True", "A", "m", T0))
    later = T0 + dt.timedelta(seconds=5)
    util.set_condition(status, util.new_condition("Progressing", "True", "A", "m2", later))
    assert status["conditions"][0]["message"] == "m"  # same status and reason: untouched
    util.set_condition(status, util.new_condition("Progressing", "True", "B", "m3", later))
    cond = status["conditions"][0]
    assert cond["reason"] == "B" and cond["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert cond["lastUpdateTime"] == "2026-01-01T00:00:05Z"


@pytest.mark.parametrize("reason,age,want", [
    ("ReplicaSetUpdated", 601, True),
    ("ReplicaSetUpdated", 600, False),  # strictly after the deadline
    ("NewReplicaSetAvailable", 9999, False),
    ("ProgressDeadlineExceeded", 0, True),
])
def test_deployment_timed_out(reason, age, want):
    d = deployment(progressDeadlineSeconds=600)
    status = {"conditions": [util.new_condition("Progressing", "True", reason, "", T0)]}
    assert util.deployment_timed_out(d, status, T0 + dt.timedelta(seconds=age)) is want


@pytest.mark.parametrize("size,max_ann,to_add,added,want", [
    (8, 13, 5, 0, 3),   # its share of the 18 allowed
    (8, 13, 1, 0, 1),   # capped by what is left to add
    (8, 13, 5, 5, 0),   # nothing left
    (0, 13, 5, 0, 0),   # never scale up from zero
    (8, 13, -5, 0, -2),  # its share of 6+3: round(8 * 9/13) = 6
    (8, 13, -1, 0, -1),  # never remove more than asked
])
def test_get_proportion(size, max_ann, to_add, added, want):
    d = deployment(6 if to_add < 0 else 15, 3, 2)
    r = rs("r", size, annotations={util.MAX_REPLICAS: str(max_ann)})
    assert util.get_proportion(r, d, to_add, added) == want


def _by_parsed_time(rss):
    """The reference order: parsed timestamps (absent = zero time), then name."""
    zero = dt.datetime.min.replace(tzinfo=dt.UTC)

    def key(r):
        ts = r["metadata"].get("creationTimestamp")
        return (dt.datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else zero), r["metadata"]["name"]
    return sorted(rss, key=key)


@pytest.mark.parametrize("stamps", [
    ["2026-01-01T00:00:09Z", "2026-01-01T00:00:10Z", "2025-12-31T23:59:59Z"],  # 09 < 10 as strings too
    ["2026-01-01T00:00:05Z", "2026-01-01T00:00:05Z", "2026-01-01T00:00:04Z"],  # ties: by name
    [None, "0001-01-01T00:00:00Z", "2026-01-01T00:00:00Z"],  # absent is the zero time
    ["2026-01-01T01:00:00+01:00", "2026-01-01T00:30:00Z", "2026-01-01T00:00:00.500000Z"],  # other forms parsed
    ["2026-01-01T00:00:00.500000Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"],  # sub-second in between
])
def test_by_creation_orders_like_parsed_timestamps(stamps):
    rss = []
    for i, ts in enumerate(stamps):
        r = rs(f"rs-{2 - i}", 1, ts)
        if ts is None:
            del r["metadata"]["creationTimestamp"]
        rss.append(r)
    names = lambda rss: [r["metadata"]["name"] for r in rss]  # noqa: E731
    assert names(util.by_creation(rss)) == names(_by_parsed_time(rss))
    assert names(util.by_creation(reversed(rss))) == names(_by_parsed_time(rss))


@pytest.mark.parametrize("labels_a,labels_b,want", [
    ({"app": "web"}, {"app": "web", util.POD_TEMPLATE_HASH: "abc"}, True),
    ({util.POD_TEMPLATE_HASH: "x"}, {util.POD_TEMPLATE_HASH: "y"}, True),  # labels left empty: absent
    ({util.POD_TEMPLATE_HASH: "x"}, None, True),
    ({"app": "web", util.POD_TEMPLATE_HASH: "x"}, {"app": "api", util.POD_TEMPLATE_HASH: "x"}, False),
    ({"app": "web"}, {"app": "web", "tier": "db"}, False),
])
def test_equal_ignore_hash_leaves_the_templates_untouched(labels_a, labels_b, want):
    spec = {"containers": [{"name": "c", "image": "i"}]}
    a = {"metadata": {"labels": labels_a}, "spec": spec}
    b = {"metadata": {"labels": labels_b} if labels_b is not None else {}, "spec": spec}
    before = repr((a, b))
    assert util.equal_ignore_hash(a, b) is want
    assert util.equal_ignore_hash(b, a) is want
    assert repr((a, b)) == before  # the hash label was dropped from copies only
