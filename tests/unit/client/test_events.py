"""The event recorder writes core/v1 Events with client-go's aggregation, counting and spam filter."""

import asyncio
import random

import pytest

from kubeling.api import errors, registry
from kubeling.client.clock import FakeClock
from kubeling.client.events import COMBINED_PREFIX, EVENTS, EventRecorder
from kubeling.client.local import LocalClient

DEPLOY = {"kind": "Deployment", "apiVersion": "apps/v1",
          "metadata": {"name": "web", "namespace": "prod", "uid": "uid-web", "resourceVersion": "7"}}
NODE = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-1", "uid": "uid-node"}}


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


@pytest.fixture
async def client():
    c = await LocalClient.start()
    await c.create(registry.lookup("", "v1", "namespaces"), None, {"metadata": {"name": "prod"}})
    yield c
    await c.close()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def recorder(client, clock):
    r = EventRecorder(client, "deployment-controller", host="cp-1", clock=clock)
    yield r
    await r.close()


async def events_in(client, namespace="prod"):
    items = (await client.list(EVENTS, namespace))["items"]
    return sorted(items, key=lambda e: e["metadata"]["name"])


async def test_first_event_has_client_go_shape(client, recorder, clock):
    recorder.event(DEPLOY, "Normal", "ScalingReplicaSet", "Scaled up replica set web-abc to 3")
    await recorder.flush()
    [ev] = await events_in(client)
    nanos = int(clock.now().timestamp()) * 10**9
    assert ev["metadata"]["name"] == f"web.{nanos:x}"
    assert ev["metadata"]["namespace"] == "prod"
    assert ev["involvedObject"] == {"kind": "Deployment", "namespace": "prod", "name": "web", "uid": "uid-web",
                                    "apiVersion": "apps/v1", "resourceVersion": "7"}
    assert (ev["type"], ev["reason"], ev["message"]) == (
        "Normal", "ScalingReplicaSet", "Scaled up replica set web-abc to 3")
    assert ev["source"] == {"component": "deployment-controller", "host": "cp-1"}
    assert (ev["reportingComponent"], ev["reportingInstance"]) == ("deployment-controller", "cp-1")
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2026-01-01T00:00:00Z"
    assert ev["count"] == 1


async def test_cluster_scoped_object_events_go_to_default(client, recorder):
    recorder.eventf(NODE, "Warning", "NodeNotReady", "Node %s status is now: %s", "node-1", "NodeNotReady")
    await recorder.flush()
    [ev] = await events_in(client, "default")
    assert ev["message"] == "Node node-1 status is now: NodeNotReady"
    assert "namespace" not in ev["involvedObject"]


@pytest.mark.parametrize("repeats", [2, 5])
async def test_identical_repeats_patch_count_and_last_timestamp(client, recorder, clock, repeats):
    for _ in range(repeats):
        recorder.event(DEPLOY, "Normal", "SuccessfulCreate", "Created pod: web-1")
        await recorder.flush()
        clock.advance(7)
    [ev] = await events_in(client)
    assert ev["count"] == repeats
    assert ev["firstTimestamp"] == "2026-01-01T00:00:00Z"
    assert ev["lastTimestamp"] == f"2026-01-01T00:00:{7 * (repeats - 1):02d}Z"


async def test_repeats_differing_in_any_key_field_are_separate_events(client, recorder):
    recorder.event(DEPLOY, "Normal", "SuccessfulCreate", "Created pod: web-1")
    recorder.event(DEPLOY, "Normal", "SuccessfulCreate", "Created pod: web-2")  # message
    recorder.event(DEPLOY, "Warning", "SuccessfulCreate", "Created pod: web-1")  # type
    recorder.event(DEPLOY, "Normal", "SuccessfulDelete", "Created pod: web-1")  # reason
    other = {**DEPLOY, "metadata": {**DEPLOY["metadata"], "uid": "uid-web-2"}}
    recorder.event(other, "Normal", "SuccessfulCreate", "Created pod: web-1")  # object uid
    await recorder.flush()
    evs = await events_in(client)
    assert len(evs) == 5 and all(e["count"] == 1 for e in evs)
    assert len({e["metadata"]["name"] for e in evs}) == 5  # unique even with the clock standing still


async def test_similar_events_are_combined_after_ten_messages(client, recorder):
    for i in range(12):
        recorder.event(DEPLOY, "Warning", "FailedCreate", f"Error creating: quota exceeded #{i}")
    await recorder.flush()
    evs = await events_in(client)
    combined = [e for e in evs if e["message"].startswith(COMBINED_PREFIX)]
    singles = [e for e in evs if not e["message"].startswith(COMBINED_PREFIX)]
    assert len(singles) == 9  # the first nine distinct messages stand alone
    [agg] = combined
    assert agg["count"] == 3  # the 10th, 11th and 12th
    assert agg["message"] == COMBINED_PREFIX + "Error creating: quota exceeded #11"
    assert agg["reason"] == "FailedCreate" and agg["type"] == "Warning"


async def test_similar_event_window_restarts_after_ten_minutes(client, recorder, clock):
    for i in range(9):
        recorder.event(DEPLOY, "Warning", "FailedCreate", f"m{i}")
    await recorder.flush()
    clock.advance(601)
    recorder.event(DEPLOY, "Warning", "FailedCreate", "m9")  # the 10th, but in a new window
    await recorder.flush()
    evs = await events_in(client)
    assert len(evs) == 10
    assert not any(e["message"].startswith(COMBINED_PREFIX) for e in evs)


async def test_spam_filter_allows_a_burst_of_25_then_one_per_5_minutes(client, recorder, clock):
    for _ in range(30):
        recorder.event(DEPLOY, "Normal", "Pulled", "Image pulled")
    await recorder.flush()
    [ev] = await events_in(client)
    assert ev["count"] == 25  # 26..30 dropped
    clock.advance(299)
    recorder.event(DEPLOY, "Normal", "Pulled", "Image pulled")
    await recorder.flush()
    assert (await events_in(client))[0]["count"] == 25  # bucket still empty
    clock.advance(1)
    recorder.event(DEPLOY, "Normal", "Pulled", "Image pulled")
    await recorder.flush()
    # As in client-go, dropped repeats were still counted: the next write carries the total.
    assert (await events_in(client))[0]["count"] == 32


async def test_spam_buckets_are_per_object(client, recorder):
    other = {**DEPLOY, "metadata": {**DEPLOY["metadata"], "name": "api", "uid": "uid-api"}}
    for i in range(26):
        recorder.event(DEPLOY, "Normal", f"Reason{i}", "m")
        recorder.event(other, "Normal", f"Reason{i}", "m")
    await recorder.flush()
    names = [e["involvedObject"]["name"] for e in await events_in(client)]
    assert names.count("web") == 25 and names.count("api") == 25


async def test_patch_of_a_deleted_event_creates_it_again(client, recorder, clock):
    recorder.event(DEPLOY, "Normal", "SuccessfulCreate", "Created pod: web-1")
    await recorder.flush()
    [ev] = await events_in(client)
    await client.delete(EVENTS, "prod", ev["metadata"]["name"])
    clock.advance(5)
    recorder.event(DEPLOY, "Normal", "SuccessfulCreate", "Created pod: web-1")
    await recorder.flush()
    [again] = await events_in(client)
    assert again["metadata"]["name"] == ev["metadata"]["name"]
    assert again["count"] == 2 and again["lastTimestamp"] == "2026-01-01T00:00:05Z"


async def test_invalid_input_is_dropped_without_raising(client, recorder):
    recorder.event(DEPLOY, "Info", "Whatever", "not a valid type")
    recorder.event({"metadata": {"name": "no-kind"}}, "Normal", "R", "m")
    await recorder.flush()
    assert await events_in(client) == []


class FlakyClient:
    """Delegates to a real client, failing the first `failures` creates with `error`."""

    def __init__(self, inner, failures, error):
        self.inner, self.failures, self.error, self.creates = inner, failures, error, 0

    async def create(self, *args, **kwargs):
        self.creates += 1
        if self.creates <= self.failures:
            raise self.error
        return await self.inner.create(*args, **kwargs)

    async def patch(self, *args, **kwargs):
        return await self.inner.patch(*args, **kwargs)


@pytest.mark.parametrize("error, failures, written, creates", [
    (ConnectionError("connection refused"), 2, 1, 3),  # transport errors are retried
    (errors.ApiError(503, "ServiceUnavailable", "server unreachable"), 1, 1, 2),  # as RestClient reports it
    (errors.ApiError(403, "Forbidden", "events is forbidden"), 1, 0, 1),  # refusals are not
    (ConnectionError("down"), 99, 0, 12),  # until the retry limit
])
async def test_write_errors_are_retried_or_dropped_never_raised(client, clock, error, failures, written, creates):
    flaky = FlakyClient(client, failures, error)
    rec = EventRecorder(flaky, "replicaset-controller", clock=clock, rng=NoJitter())
    rec.event(DEPLOY, "Normal", "SuccessfulCreate", "Created pod: web-1")
    for _ in range(15):  # step through the retry pauses (10 s each after a first, jittered one)
        await spin()
        clock.advance(10)
    await spin()
    await rec.close()
    assert len(await events_in(client)) == written
    assert flaky.creates == creates


async def test_close_flushes_queued_events_and_later_events_are_dropped(client, clock):
    rec = EventRecorder(client, "c", clock=clock)
    for i in range(3):
        rec.event(DEPLOY, "Normal", f"R{i}", "m")
    await rec.close()
    assert len(await events_in(client)) == 3
    rec.event(DEPLOY, "Normal", "Late", "m")
    assert len(await events_in(client)) == 3


async def test_a_full_queue_drops_events_and_logs_one_line_per_ten_seconds(client, clock, caplog):
    rec = EventRecorder(client, "c", clock=clock, max_queued=3)
    for i in range(10):  # no await between them: the writers cannot drain the queue
        rec.event(DEPLOY, "Normal", f"R{i}", "m")
    assert rec.dropped == 7
    lines = [r.getMessage() for r in caplog.records if "event queue full" in r.getMessage()]
    assert lines == ["event queue full (3 queued): dropped 1 event(s) since the last report, "
                     "the latest R3 about Deployment/web"]
    clock.advance(10)
    rec.event(DEPLOY, "Normal", "R10", "m")
    lines = [r.getMessage() for r in caplog.records if "event queue full" in r.getMessage()]
    assert len(lines) == 2 and "dropped 7 event(s)" in lines[1] and "latest R10" in lines[1]
    await rec.close()
    assert len(await events_in(client)) == 3


async def spin(rounds: int = 50) -> None:
    """Let the recorder's task run until it waits on the (fake) clock."""
    for _ in range(rounds):
        await asyncio.sleep(0)
