"""What happens when a client asks for history the server no longer has: after a restart, the
watch cache's event window starts at the current revision. (Expired continue tokens and
compacted revisions are covered in tests/unit/apiserver/test_storage.py: the server keeps
10k revisions and offers no way to compact sooner.)"""

from __future__ import annotations

import pytest

from tests.integration.helpers import cm

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def ns(api):
    return api.namespace("hist")


def test_watch_from_before_a_restart_gets_one_410_error_event(api, ns, server):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    old_rv = api.ok("POST", path, cm("before"))["metadata"]["resourceVersion"]
    api.ok("PATCH", f"{path}/before", {"data": {"k": "2"}}, content_type=MERGE)
    server.stop()
    server.start()
    head = api.ok("GET", path)["metadata"]["resourceVersion"]
    events = list(api.watch(path, {"resourceVersion": old_rv, "timeoutSeconds": 5}))
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"] == f"too old resource version: {old_rv} ({head})"
    # From the current revision the watch works, and the server still serves.
    stream = api.watch(path, {"resourceVersion": head})
    try:
        api.ok("POST", path, cm("after"))
        event = next(stream)
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "after")
    finally:
        stream.close()
