"""LIST and WATCH against a real server: selectors, pagination, resourceVersion semantics and
the watch stream, compared with kube-apiserver."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.integration.helpers import cm, pod, status_of

MERGE = "application/merge-patch+json"


def names(items) -> list[str]:
    return [o["metadata"]["name"] for o in items]


def take(api, path: str, params: dict, n: int) -> list[dict]:
    """The first n events of a watch; the connection is closed after."""
    stream = api.watch(path, params)
    try:
        return list(itertools.islice(stream, n))
    finally:
        stream.close()


def summary(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


@pytest.fixture(scope="module")
def labelled(api):
    """A namespace with six configmaps labelled for selector tests."""
    ns = api.namespace("sel")
    labels = {
        "a": {"env": "prod", "tier": "web", "rank": "1"},
        "b": {"env": "prod", "tier": "db", "rank": "5"},
        "c": {"env": "dev", "tier": "web", "rank": "10"},
        "d": {"env": "test"},
        "e": {"tier": "cache"},
        "f": {},
    }
    for name, lbl in labels.items():
        api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", cm(name, labels=lbl or None))
    return ns


@pytest.mark.parametrize("selector,expected", [
    ("env=prod", "ab"),
    ("env==prod", "ab"),
    ("env!=prod", "cdef"),
    ("env in (prod,dev)", "abc"),
    ("env notin (prod,dev)", "def"),
    ("env", "abcd"),
    ("!env", "ef"),
    ("env=prod,tier=web", "a"),
    ("tier,!env", "e"),
    ("rank>2", "bc"),
    ("rank<5", "a"),
    ("env in (nothing)", ""),
    ("", "abcdef"),
])
def test_label_selector_operators(api, labelled, selector, expected):
    body = api.ok("GET", f"/api/v1/namespaces/{labelled}/configmaps", params={"labelSelector": selector})
    assert names(body["items"]) == list(expected)


def test_field_selectors(api, labelled):
    path = f"/api/v1/namespaces/{labelled}/configmaps"
    assert names(api.ok("GET", path, params={"fieldSelector": "metadata.name=c"})["items"]) == ["c"]
    assert names(api.ok("GET", path, params={"fieldSelector": "metadata.name!=c"})["items"]) == list("abdef")
    everywhere = api.ok("GET", "/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={labelled}"})
    assert names(everywhere["items"]) == list("abcdef")
    both = api.ok("GET", "/api/v1/configmaps", params={"fieldSelector": "metadata.name=a",
                                                        "labelSelector": "env=prod"})
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in both["items"]] == [(labelled, "a")]


def test_pod_field_selectors(api):
    ns = api.namespace("podsel")
    path = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", path, pod("on-n1", node="n1"))
    api.ok("POST", path, pod("on-n2", node="n2"))
    api.ok("POST", path, pod("nowhere"))
    done = api.ok("GET", f"{path}/on-n2")
    done["status"]["phase"] = "Succeeded"
    api.ok("PUT", f"{path}/on-n2/status", done)
    cases = [
        ("spec.nodeName=n1", ["on-n1"]),
        ("spec.nodeName=", ["nowhere"]),
        ("spec.nodeName!=", ["on-n1", "on-n2"]),
        ("status.phase=Pending", ["nowhere", "on-n1"]),
        ("status.phase!=Pending", ["on-n2"]),
        ("status.phase=Pending,spec.nodeName=n1", ["on-n1"]),
    ]
    for selector, expected in cases:
        assert names(api.ok("GET", path, params={"fieldSelector": selector})["items"]) == expected, selector


# ---- pagination and resourceVersion --------------------------------------------------------------


@pytest.fixture(scope="module")
def many(api):
    ns = api.namespace("page")
    for i in range(25):
        api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", cm(f"cm-{i:02d}", labels={"odd": str(i % 2)}))
    return ns


def test_limit_and_continue_give_a_consistent_snapshot(api, many):
    path = f"/api/v1/namespaces/{many}/configmaps"
    first = api.ok("GET", path, params={"limit": 10})
    md = first["metadata"]
    assert names(first["items"]) == [f"cm-{i:02d}" for i in range(10)]
    assert md["remainingItemCount"] == 15 and md["continue"]
    # Changes after the first page do not show in the later ones.
    api.ok("POST", path, cm("cm-99"))
    api.ok("DELETE", f"{path}/cm-24")
    second = api.ok("GET", path, params={"limit": 10, "continue": md["continue"]})
    assert names(second["items"]) == [f"cm-{i:02d}" for i in range(10, 20)]
    assert second["metadata"]["remainingItemCount"] == 5
    assert second["metadata"]["resourceVersion"] == md["resourceVersion"]
    third = api.ok("GET", path, params={"limit": 10, "continue": second["metadata"]["continue"]})
    assert names(third["items"]) == [f"cm-{i:02d}" for i in range(20, 25)]
    assert "continue" not in third["metadata"] and "remainingItemCount" not in third["metadata"]
    assert third["metadata"]["resourceVersion"] == md["resourceVersion"]
    api.ok("DELETE", f"{path}/cm-99")
    api.ok("POST", path, cm("cm-24", labels={"odd": "0"}))


def test_filtered_pages_carry_no_remaining_count(api, many):
    path = f"/api/v1/namespaces/{many}/configmaps"
    first = api.ok("GET", path, params={"limit": 5, "labelSelector": "odd=1"})
    assert names(first["items"]) == [f"cm-{i:02d}" for i in range(1, 10, 2)]
    assert "remainingItemCount" not in first["metadata"] and first["metadata"]["continue"]
    rest = api.ok("GET", path, params={"limit": 50, "labelSelector": "odd=1",
                                      "continue": first["metadata"]["continue"]})
    assert names(rest["items"]) == [f"cm-{i:02d}" for i in range(11, 25, 2)]
    assert "continue" not in rest["metadata"]


def test_limit_exactly_the_size_gives_no_continue(api, many):
    body = api.ok("GET", f"/api/v1/namespaces/{many}/configmaps", params={"limit": 25})
    assert len(body["items"]) == 25 and "continue" not in body["metadata"]


@pytest.mark.parametrize("token", ["garbage!", "eyJydiI6IDB9"])
def test_bad_continue_token_is_400(api, many, token):
    r = api.get(f"/api/v1/namespaces/{many}/configmaps", params={"limit": 5, "continue": token})
    assert r.status_code == 400
    assert status_of(r)["reason"] == "BadRequest"


def test_resource_version_semantics(api):
    ns = api.namespace("rv")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    a = api.ok("POST", path, cm("a"))
    rv_a = a["metadata"]["resourceVersion"]
    api.ok("POST", path, cm("b"))
    latest = api.ok("GET", path)
    assert names(latest["items"]) == ["a", "b"]
    assert int(latest["metadata"]["resourceVersion"]) > int(rv_a)
    # "0": any state the cache has; the cache is never behind a write this client saw here.
    assert names(api.ok("GET", path, params={"resourceVersion": "0"})["items"]) == ["a", "b"]
    # A specific RV means "not older than": the newest state is fine.
    not_older = api.ok("GET", path, params={"resourceVersion": rv_a})
    assert names(not_older["items"]) == ["a", "b"]
    # Exact: the state at that revision, from the store's history.
    exact = api.ok("GET", path, params={"resourceVersion": rv_a, "resourceVersionMatch": "Exact"})
    assert names(exact["items"]) == ["a"] and exact["metadata"]["resourceVersion"] == rv_a
    paged = api.ok("GET", path, params={"resourceVersion": rv_a, "resourceVersionMatch": "Exact", "limit": 1})
    assert names(paged["items"]) == ["a"] and "continue" not in paged["metadata"]
    single = api.ok("GET", f"{path}/a", params={"resourceVersion": "0"})
    assert single["metadata"]["resourceVersion"] == rv_a


@pytest.mark.parametrize("params,message", [
    ({"resourceVersionMatch": "Exact"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
    ({"resourceVersionMatch": "Exact", "resourceVersion": "0"},
     'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ({"resourceVersionMatch": "Newest", "resourceVersion": "5"},
     'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'),
    ({"sendInitialEvents": "true"}, "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
    ({"watch": "true", "sendInitialEvents": "true"},
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ({"watch": "true", "resourceVersionMatch": "NotOlderThan"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
     "provided"),
])
def test_invalid_list_options_are_422(api, params, message):
    r = api.get("/api/v1/namespaces/default/configmaps", params=params)
    assert r.status_code == 422, r.text
    status = status_of(r)
    assert status["reason"] == "Invalid"
    assert status["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'
    assert status["details"]["group"] == "meta.k8s.io" and status["details"]["kind"] == "ListOptions"


# ---- watch --------------------------------------------------------------------------------------


def test_watch_from_a_resource_version_replays_exactly_the_later_events(api):
    ns = api.namespace("replay")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("a"))
    b = api.ok("POST", path, cm("b"))
    since = b["metadata"]["resourceVersion"]
    modified = api.ok("PATCH", f"{path}/a", {"data": {"k": "2"}}, content_type=MERGE)
    api.ok("DELETE", f"{path}/b")
    added = api.ok("POST", path, cm("c"))
    start = time.monotonic()
    events = list(api.watch(path, {"resourceVersion": since, "timeoutSeconds": 1}))
    elapsed = time.monotonic() - start
    assert summary(events) == [("MODIFIED", "a"), ("DELETED", "b"), ("ADDED", "c")]
    assert events[0]["object"] == modified
    deleted_rv = int(events[1]["object"]["metadata"]["resourceVersion"])
    assert int(modified["metadata"]["resourceVersion"]) < deleted_rv < int(added["metadata"]["resourceVersion"])
    assert events[1]["object"]["data"] == {"k": "v"}  # the last state of the deleted object
    assert events[2]["object"] == added
    assert 0.9 <= elapsed < 5  # timeoutSeconds ends the stream


def test_watch_from_now_and_from_zero(api):
    ns = api.namespace("wnow")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", path, cm("old"))
    # A plain watch (no resourceVersion) and resourceVersion=0 start with the current state as ADDED.
    for params in ({}, {"resourceVersion": "0"}):
        events = take(api, path, params, 1)
        assert summary(events) == [("ADDED", "old")]
    # sendInitialEvents=false: only what happens after.
    stream = api.watch(path, {"sendInitialEvents": "false", "resourceVersionMatch": "NotOlderThan"})
    try:
        api.ok("POST", path, cm("new"))
        assert summary([next(stream)]) == [("ADDED", "new")]
    finally:
        stream.close()


def test_watch_label_selector_transitions(api):
    ns = api.namespace("trans")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    since = api.ok("POST", path, cm("other", labels={"tier": "b"}))["metadata"]["resourceVersion"]
    api.ok("POST", path, cm("x", labels={"tier": "a"}))
    api.ok("PATCH", f"{path}/other", {"data": {"k": "2"}}, content_type=MERGE)
    left = api.ok("PATCH", f"{path}/x", {"metadata": {"labels": {"tier": "b"}}}, content_type=MERGE)
    api.ok("PATCH", f"{path}/x", {"data": {"k": "unseen"}}, content_type=MERGE)
    back = api.ok("PATCH", f"{path}/x", {"metadata": {"labels": {"tier": "a"}}}, content_type=MERGE)
    api.ok("DELETE", f"{path}/x")
    events = take(api, path, {"resourceVersion": since, "labelSelector": "tier=a"}, 4)
    assert summary(events) == [("ADDED", "x"), ("DELETED", "x"), ("ADDED", "x"), ("DELETED", "x")]
    assert events[1]["object"] == left  # the object as it stopped matching
    assert events[2]["object"] == back


def test_watch_with_field_selector(api):
    ns = api.namespace("wfield")
    path = f"/api/v1/namespaces/{ns}/pods"
    since = api.ok("POST", path, pod("p1"))["metadata"]["resourceVersion"]
    api.ok("POST", path, pod("p2", node="n1"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"}, "target": {"name": "n1"}}
    api.ok("POST", f"{path}/p1/binding", binding)
    events = take(api, path, {"resourceVersion": since, "fieldSelector": "spec.nodeName=n1"}, 2)
    # p1 starts matching when it is bound: for this watcher that is an ADDED.
    assert summary(events) == [("ADDED", "p2"), ("ADDED", "p1")]


def test_send_initial_events_ends_with_a_bookmark(api):
    ns = api.namespace("initial")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for n in ("a", "b"):
        api.ok("POST", path, cm(n))
    current = api.ok("GET", path)["metadata"]["resourceVersion"]
    params = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}
    for extra in ({}, {"resourceVersion": current}):
        stream = api.watch(path, {**params, **extra})
        try:
            events = list(itertools.islice(stream, 3))
            assert summary(events[:2]) == [("ADDED", "a"), ("ADDED", "b")]
            mark = events[2]
            assert mark["type"] == "BOOKMARK"
            assert mark["object"]["kind"] == "ConfigMap"
            assert mark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
            assert int(mark["object"]["metadata"]["resourceVersion"]) >= int(current)
            api.ok("PATCH", f"{path}/a", {"data": {"k": extra.get("resourceVersion", "x")}}, content_type=MERGE)
            assert summary([next(stream)]) == [("MODIFIED", "a")]
        finally:
            stream.close()


def test_bookmark_before_the_watch_times_out(api):
    ns = api.namespace("bm")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rv = api.ok("POST", path, cm("a"))["metadata"]["resourceVersion"]
    start = time.monotonic()
    # kube-apiserver's cacher sends a bookmark 2 s before the deadline, so that the client can resume.
    events = take(api, path, {"resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": 3}, 1)
    elapsed = time.monotonic() - start
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    assert events[0]["object"]["kind"] == "ConfigMap"
    assert 0.8 <= elapsed < 2.5


def test_no_bookmarks_unless_asked(api):
    ns = api.namespace("nobm")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rv = api.ok("POST", path, cm("a"))["metadata"]["resourceVersion"]
    assert list(api.watch(path, {"resourceVersion": rv, "timeoutSeconds": 1})) == []
