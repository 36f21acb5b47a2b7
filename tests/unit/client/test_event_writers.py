"""The recorder's writers: at most `writers` writes in flight, one at a time per object and in
order (a create before the patches counting its repeats), everything queued written on close."""

from __future__ import annotations

import asyncio

from kubeling.api.errors import ApiError
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder


class SlowClient:
    """Answers each write after a few loop turns, recording what was in flight."""

    def __init__(self):
        self.in_flight: list[str] = []
        self.most = 0
        self.writes: list[tuple[str, str, int]] = []  # (verb, object name, count)
        self.stored: dict[str, dict] = {}

    async def _answer(self, verb: str, ev: dict) -> dict:
        name = ev["involvedObject"]["name"] if verb == "create" else ev["metadata"]["name"].split(".")[0]
        assert name not in self.in_flight, f"two writes at once about {name}"
        self.in_flight.append(name)
        self.most = max(self.most, len(self.in_flight))
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight.remove(name)
        self.writes.append((verb, name, ev.get("count", 0)))
        return ev

    async def create(self, rt, namespace, body, **kw):
        stored = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
        self.stored[stored["metadata"]["name"]] = stored
        return await self._answer("create", stored)

    async def patch(self, rt, namespace, name, patch, **kw):
        if name not in self.stored:
            raise ApiError(404, "NotFound", "gone")
        self.stored[name] = {**self.stored[name], **patch}
        return await self._answer("patch", self.stored[name])


def pod(name: str) -> dict:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}}


async def test_writes_in_flight_are_bounded_and_ordered_per_object():
    client = SlowClient()
    recorder = EventRecorder(client, "default-scheduler", clock=FakeClock(), writers=4)
    for i in range(20):
        recorder.event(pod(f"p{i}"), "Normal", "Scheduled", f"Successfully assigned ns/p{i} to n")
    for _ in range(3):  # exact repeats about one object: one create, then patches counting them
        recorder.event(pod("p0"), "Normal", "Scheduled", "Successfully assigned ns/p0 to n")
    await recorder.flush()
    assert client.most == 4
    assert sorted(name for verb, name, _ in client.writes if verb == "create") == sorted(f"p{i}" for i in range(20))
    assert [(verb, count) for verb, name, count in client.writes if name == "p0"] == \
        [("create", 1), ("patch", 2), ("patch", 3), ("patch", 4)]
    await recorder.close()


async def test_close_writes_everything_queued_with_many_writers():
    client = SlowClient()
    recorder = EventRecorder(client, "default-scheduler", clock=FakeClock(), writers=8)
    for i in range(50):
        recorder.event(pod(f"p{i % 10}"), "Warning", "FailedScheduling", f"attempt {i}")
    await recorder.close()
    assert len(client.writes) == 50 and not client.in_flight
    recorder.event(pod("late"), "Normal", "Scheduled", "after close")  # dropped, never raises
    await asyncio.sleep(0)
    assert len(client.writes) == 50
