"""Events expire an hour after their last write (kube-apiserver's --event-ttl)."""

import datetime as dt

from kubeling.api import registry
from kubeling.apiserver.eventttl import EVENT_TTL, expire_events, last_written
from kubeling.client.local import LocalClient

EVENTS = registry.lookup("", "v1", "events")
NOW = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.UTC)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(name: str, last: dt.datetime) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
            "reason": "Started", "message": "m", "type": "Normal", "count": 1,
            "firstTimestamp": stamp(last - dt.timedelta(minutes=5)), "lastTimestamp": stamp(last)}


def test_last_written_is_the_newest_stamp():
    ev = event("e", NOW)
    ev["series"] = {"count": 3, "lastObservedTime": "2026-11-27T12:30:00.000000Z"}
    assert last_written(ev) == NOW + dt.timedelta(minutes=30)
    assert last_written({"metadata": {}}) is None
    assert last_written({"metadata": {}, "lastTimestamp": "garbage"}) is None


async def test_events_older_than_the_ttl_are_deleted_and_newer_ones_kept():
    client = await LocalClient.start()
    try:
        await client.create(EVENTS, "default", event("old", NOW - dt.timedelta(seconds=EVENT_TTL + 60)))
        await client.create(EVENTS, "default", event("recent", NOW - dt.timedelta(seconds=EVENT_TTL - 60)))
        assert await expire_events(client.store, NOW) == 1
        names = [e["metadata"]["name"] for e in (await client.list(EVENTS, "default"))["items"]]
        assert names == ["recent"]
        assert await expire_events(client.store, NOW + dt.timedelta(minutes=2)) == 1
        assert (await client.list(EVENTS, "default"))["items"] == []
    finally:
        await client.close()
