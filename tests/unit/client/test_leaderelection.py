"""Leader election on a Lease, driven by a fake clock: acquisition, renewal, expiry, hand-over."""

import asyncio

import pytest

from kubeling.client.clock import FakeClock
from kubeling.client.leaderelection import LEASES, LeaderElector
from kubeling.client.local import LocalClient

NS, NAME = "kube-system", "kube-controller-manager"


@pytest.fixture
async def client():
    c = await LocalClient.start()
    yield c
    await c.close()


@pytest.fixture
def clock():
    return FakeClock()


def elector(client, clock, identity, **kw):
    kw.setdefault("jitter", 0.0)  # acquire retries exactly every retry_period
    return LeaderElector(client, namespace=NS, name=NAME, identity=identity, clock=clock, **kw)


async def spin(rounds: int = 100) -> None:
    """Let every task run until it waits on the fake clock."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def tick(clock, seconds: float, step: float = 1.0) -> None:
    """Advance the fake clock in steps, letting the loops run at each."""
    t = 0.0
    while t < seconds:
        clock.advance(min(step, seconds - t))
        t += step
        await spin()


class Leading:
    """A leading coroutine that records its life."""

    def __init__(self):
        self.started = self.cancelled = 0
        self.stopped = 0

    async def work(self):
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    def on_stopped(self):
        self.stopped += 1


def start(el, leading):
    return asyncio.create_task(el.run(leading.work, leading.on_stopped))


async def stop(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def lease(client):
    return await client.get(LEASES, NS, NAME)


async def test_acquires_a_missing_lease(client, clock):
    a, leading = elector(client, clock, "a"), Leading()
    task = start(a, leading)
    await spin()
    assert a.is_leader and a.observed_leader == "a" and leading.started == 1
    spec = (await lease(client))["spec"]
    assert spec == {"holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": "2026-01-01T00:00:00.000000Z",
                    "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 0}
    await stop(task)
    assert (leading.cancelled, leading.stopped, a.is_leader) == (1, 1, False)


async def test_leader_renews_every_retry_period(client, clock):
    a = elector(client, clock, "a")
    task = start(a, Leading())
    await spin()
    await tick(clock, 1.5)
    assert (await lease(client))["spec"]["renewTime"] == "2026-01-01T00:00:00.000000Z"
    await tick(clock, 0.5)
    spec = (await lease(client))["spec"]
    assert spec["renewTime"] == "2026-01-01T00:00:02.000000Z"
    assert spec["acquireTime"] == "2026-01-01T00:00:00.000000Z" and spec["leaseTransitions"] == 0
    await stop(task)


@pytest.mark.parametrize("holder_renew_time", [
    "2020-01-01T00:00:00.000000Z",  # long in the past by our clock: still not expired until observed
    "2099-01-01T00:00:00.000000Z",  # in the future (clock skew): expires all the same
])
async def test_takes_over_only_after_observing_no_change_for_lease_duration(client, clock, holder_renew_time):
    await client.create(LEASES, NS, {"metadata": {"name": NAME}, "spec": {
        "holderIdentity": "dead", "leaseDurationSeconds": 15, "acquireTime": holder_renew_time,
        "renewTime": holder_renew_time, "leaseTransitions": 4}})
    b, leading = elector(client, clock, "b"), Leading()
    task = start(b, leading)
    await spin()
    assert not b.is_leader and b.observed_leader == "dead"
    await tick(clock, 14)
    assert not b.is_leader and leading.started == 0
    await tick(clock, 2)
    assert b.is_leader and leading.started == 1
    spec = (await lease(client))["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 5
    assert spec["acquireTime"] == spec["renewTime"] == "2026-01-01T00:00:16.000000Z"
    await stop(task)


async def test_a_renewing_holder_is_never_displaced(client, clock):
    a, b = elector(client, clock, "a"), elector(client, clock, "b")
    ta, tb = start(a, Leading()), start(b, Leading())
    await spin()
    await tick(clock, 60)
    assert a.is_leader and not b.is_leader and b.observed_leader == "a"
    await stop(ta)
    await stop(tb)


class Faulty:
    """A client that, once `broken`, fails every call like an unreachable server."""

    def __init__(self, inner):
        self.inner, self.broken = inner, False

    def __getattr__(self, verb):
        method = getattr(self.inner, verb)

        async def call(*args, **kwargs):
            if self.broken:
                raise ConnectionError("connection refused")
            return await method(*args, **kwargs)
        return call


async def test_renew_failures_for_renew_deadline_lose_leadership(client, clock):
    faulty = Faulty(client)
    a, leading = elector(faulty, clock, "a"), Leading()
    task = start(a, leading)
    await spin()
    faulty.broken = True
    await tick(clock, 11)  # the first failed renewal at t=2, deadline reached at t=12
    assert not task.done() and a.is_leader
    await tick(clock, 1)
    assert task.done() and task.exception() is None  # run() returns: leadership lost
    assert (leading.cancelled, leading.stopped, a.is_leader) == (1, 1, False)
    assert (await lease(client))["spec"]["holderIdentity"] == "a"  # it could not write anything


async def test_steps_down_at_once_when_another_holder_appears(client, clock):
    a, leading = elector(client, clock, "a"), Leading()
    task = start(a, leading)
    await spin()
    current = await lease(client)
    current["spec"]["holderIdentity"] = "usurper"
    await client.update(LEASES, current)
    await tick(clock, 2)
    assert task.done() and leading.cancelled == 1 and a.observed_leader == "usurper"
    assert (await lease(client))["spec"]["holderIdentity"] == "usurper"


@pytest.mark.parametrize("release, takeover_after", [(True, 2), (False, 18)])
async def test_release_on_cancel_hands_over_at_once(client, clock, release, takeover_after):
    a = elector(client, clock, "a", release_on_cancel=release)
    b, leading_b = elector(client, clock, "b"), Leading()
    ta = start(a, Leading())
    await spin()
    tb = start(b, leading_b)
    await spin()
    await tick(clock, 4)  # b has seen a renew
    await stop(ta)
    if release:
        spec = (await lease(client))["spec"]
        assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    await tick(clock, takeover_after - 2)
    assert not b.is_leader
    await tick(clock, 2)
    assert b.is_leader and leading_b.started == 1
    await stop(tb)


async def test_two_electors_never_both_lead(client, clock):
    """Candidates come and go; at every step at most one believes it leads."""
    def candidate(name):
        return elector(client, clock, name, release_on_cancel=(name == "a"))

    electors = {name: candidate(name) for name in "abc"}
    tasks = {name: start(el, Leading()) for name, el in electors.items()}
    away: dict[str, int] = {}  # candidate -> step at which it comes back
    leaders_seen = []
    for step in range(200):
        clock.advance(0.5)
        await spin()
        leaders = [n for n, el in electors.items() if el.is_leader]
        assert len(leaders) <= 1, f"step {step}: {leaders} all lead"
        if leaders and leaders_seen[-1:] != leaders:
            leaders_seen += leaders
        if step % 40 == 39 and leaders:  # the leader goes away, to come back later
            await stop(tasks[leaders[0]])
            away[leaders[0]] = step + 50
        for name, back in list(away.items()):
            if back == step:
                del away[name]
                electors[name] = candidate(name)
                tasks[name] = start(electors[name], Leading())
    assert len(leaders_seen) >= 4, leaders_seen  # leadership did move, each time
    for name in electors:
        if name not in away:
            await stop(tasks[name])


async def test_simultaneous_attempts_on_a_free_lease_elect_one(client, clock):
    electors = [elector(client, clock, f"c{i}") for i in range(5)]
    results = await asyncio.gather(*(el.try_acquire_or_renew() for el in electors))
    assert sum(results) == 1
    winner = electors[results.index(True)].identity
    assert (await lease(client))["spec"]["holderIdentity"] == winner


async def test_run_returns_when_the_leading_coroutine_does(client, clock):
    a, stopped = elector(client, clock, "a", release_on_cancel=True), []

    async def work():
        return None

    await a.run(work, lambda: stopped.append(True))
    assert stopped == [True] and (await lease(client))["spec"]["holderIdentity"] == ""

    async def boom():
        raise RuntimeError("reconciler crashed")

    with pytest.raises(RuntimeError, match="reconciler crashed"):
        await elector(client, clock, "b").run(boom)


async def test_leader_election_event(client, clock):
    from kubeling.client.events import EVENTS, EventRecorder

    rec = EventRecorder(client, "kube-controller-manager", clock=clock)
    a = elector(client, clock, "host-a_1234", recorder=rec)
    task = start(a, Leading())
    await spin()
    await rec.flush()
    [ev] = (await client.list(EVENTS, NS))["items"]
    assert (ev["reason"], ev["message"]) == ("LeaderElection", "host-a_1234 became leader")
    assert ev["involvedObject"]["kind"] == "Lease" and ev["involvedObject"]["name"] == NAME
    await stop(task)
    await rec.close()


@pytest.mark.parametrize("durations, message", [
    ((10, 10, 2), "lease_duration must be greater than renew_deadline"),
    ((15, 2, 2), "renew_deadline must be greater than retry_period"),
])
def test_inconsistent_durations_are_refused(durations, message):
    lease_duration, renew_deadline, retry_period = durations
    with pytest.raises(ValueError, match=message):
        LeaderElector(None, namespace=NS, name=NAME, identity="a", lease_duration=lease_duration,
                      renew_deadline=renew_deadline, retry_period=retry_period)
