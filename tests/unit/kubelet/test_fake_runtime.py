"""The fake runtime: CRI-shaped lifecycle in memory, behaviour from pod annotations, time on a
fake clock."""

import asyncio
import time

import pytest

from kubeling.client.clock import FakeClock
from kubeling.kubelet.runtime.base import ContainerConfig, ContainerState, SandboxConfig
from kubeling.kubelet.runtime.fake import (
    CONTAINER_CREATED_EVENT,
    CONTAINER_DELETED_EVENT,
    CONTAINER_STARTED_EVENT,
    CONTAINER_STOPPED_EVENT,
    FailedPreconditionError,
    FakeRuntime,
    FakeRuntimeError,
    ImagePullError,
    NotFoundError,
    normalize_image,
    parse_duration,
    rfc3339nano,
)

P = "fake.kubeling.io/"
IMAGE = "nginx"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def tick(clock: FakeClock, seconds: float) -> None:
    """Let background tasks reach their sleeps, move time, let them run."""
    await settle()
    clock.advance(seconds)
    await settle()


def pod(name: str = "web", annotations: dict | None = None, **kw) -> SandboxConfig:
    return SandboxConfig(name=name, namespace="default", uid=f"uid-{name}",
                         annotations=annotations or {}, **kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rt(clock) -> FakeRuntime:
    return FakeRuntime(clock=clock, images=[IMAGE])


async def run(rt: FakeRuntime, annotations: dict | None = None, name: str = "app",
              start: bool = True, sandbox: SandboxConfig | None = None) -> str:
    """A pod with one container `name`, started unless asked not to."""
    sb = sandbox or pod(annotations=annotations)
    sid = await rt.run_pod_sandbox(sb)
    cid = await rt.create_container(sid, ContainerConfig(name=name, image=IMAGE), sb)
    if start:
        await rt.start_container(cid)
    return cid


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("text,seconds", [
    ("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("1h", 3600.0), ("2.5", 2.5), ("0", 0.0),
    ("1.5s", 1.5),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2x", "s", "1s2", "-"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("ref,normal", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.27", "docker.io/library/nginx:1.27"),
    ("bitnami/redis", "docker.io/bitnami/redis:latest"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("nginx@sha256:abc", "docker.io/library/nginx@sha256:abc"),
])
def test_normalize_image(ref, normal):
    assert normalize_image(ref) == normal


def test_rfc3339nano_trims_trailing_zeros_like_go():
    import datetime as dt
    assert rfc3339nano(dt.datetime(2026, 1, 1, 0, 0, 5, 120000, tzinfo=dt.UTC)) == \
        "2026-01-01T00:00:05.12Z"
    assert rfc3339nano(dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC)) == "2026-01-01T00:00:05Z"


# ---------------------------------------------------------------- sandboxes


async def test_sandboxes_get_ips_from_the_pod_cidr_and_host_network_gets_none(rt):
    a = await rt.run_pod_sandbox(pod("a"))
    b = await rt.run_pod_sandbox(pod("b"))
    h = await rt.run_pod_sandbox(pod("h", host_network=True))
    ips = [(await rt.pod_sandbox_status(x)).ip for x in (a, b, h)]
    assert ips == ["10.244.0.2", "10.244.0.3", ""]
    assert (await rt.pod_sandbox_status(a)).state == "SANDBOX_READY"
    assert {s.id for s in await rt.list_pod_sandboxes()} == {a, b, h}


async def test_ip_pool_exhaustion_and_round_robin_reuse(clock):
    rt = FakeRuntime(clock=clock, pod_cidr="10.0.0.0/29")  # .2 .. .6 allocatable
    ids = [await rt.run_pod_sandbox(pod(f"p{i}")) for i in range(5)]
    with pytest.raises(FakeRuntimeError, match="no IP addresses available in range set: "
                                                "10.0.0.1-10.0.0.6"):
        await rt.run_pod_sandbox(pod("full"))
    await rt.stop_pod_sandbox(ids[1])  # frees 10.0.0.3
    assert (await rt.pod_sandbox_status(ids[1])).ip == "10.0.0.3"  # status keeps it
    new = await rt.run_pod_sandbox(pod("again"))
    assert (await rt.pod_sandbox_status(new)).ip == "10.0.0.3"


async def test_stop_sandbox_kills_containers_and_remove_removes_them(rt):
    cid = await run(rt)
    sid = (await rt.container_status(cid)).sandbox_id
    await rt.stop_pod_sandbox(sid)
    await rt.stop_pod_sandbox(sid)  # idempotent
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 137, "Error")
    assert (await rt.pod_sandbox_status(sid)).state == "SANDBOX_NOTREADY"
    with pytest.raises(FailedPreconditionError):
        await rt.create_container(sid, ContainerConfig(name="late", image=IMAGE), pod())
    await rt.remove_pod_sandbox(sid)
    await rt.remove_pod_sandbox(sid)  # idempotent
    assert await rt.list_containers() == []
    with pytest.raises(NotFoundError):
        await rt.pod_sandbox_status(sid)


# ---------------------------------------------------------------- containers


async def test_default_lifecycle_runs_until_stopped_and_sigterm_exits_143(rt, clock):
    cid = await run(rt, start=False)
    st = await rt.container_status(cid)
    assert st.state == ContainerState.CREATED
    assert st.image == "docker.io/library/nginx:latest"
    assert st.image_ref.startswith("docker.io/library/nginx@sha256:")
    await rt.start_container(cid)
    await tick(clock, 3600)
    st = await rt.container_status(cid)
    assert st.state == ContainerState.RUNNING
    assert st.started_at == clock.now().timestamp() - 3600
    assert not asyncio.all_tasks() - {asyncio.current_task()}  # no timers when none asked
    await rt.stop_container(cid, 30)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 143, "Error")
    assert st.finished_at == clock.now().timestamp()
    with pytest.raises(FailedPreconditionError):
        await rt.start_container(cid)


@pytest.mark.parametrize("annotations,timeout,exit_code,waited", [
    ({}, 0, 137, 0),                                       # timeout 0: SIGKILL at once
    ({}, 30, 143, 0),                                      # dies on SIGTERM
    ({P + "stop-delay": "5s"}, 30, 143, 5),                # handles SIGTERM, takes 5 s
    ({P + "stop-delay": "5s", P + "stop-exit-code": "0"}, 30, 0, 5),
    ({P + "stop-delay": "1m"}, 30, 137, 30),               # grace over: killed
    ({P + "stop-delay": "never"}, 10, 137, 10),            # ignores SIGTERM
])
async def test_stop_container_grace(rt, clock, annotations, timeout, exit_code, waited):
    cid = await run(rt, annotations)
    t0 = clock.monotonic()
    stop = asyncio.ensure_future(rt.stop_container(cid, timeout))
    while not stop.done():
        await tick(clock, 1)
        assert clock.monotonic() - t0 <= 120
    await stop
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code) == (ContainerState.EXITED, exit_code)
    assert st.finished_at - st.started_at == pytest.approx(waited, abs=1)


@pytest.mark.parametrize("annotations,exit_code,reason", [
    ({P + "exit-after": "5s"}, 0, "Completed"),
    ({P + "exit-after": "5s", P + "exit-code": "1"}, 1, "Error"),
    ({P + "exit-after": "5s", P + "exit-code": "137", P + "exit-reason": "OOMKilled"}, 137, "OOMKilled"),
    ({P + "exit-after": "1h", P + "app.exit-after": "5s", P + "app.exit-code": "2"}, 2, "Error"),
])
async def test_container_exits_by_itself(rt, clock, annotations, exit_code, reason):
    cid = await run(rt, annotations)
    await tick(clock, 4.9)
    assert (await rt.container_status(cid)).state == ContainerState.RUNNING
    await tick(clock, 0.1)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, exit_code, reason)
    assert st.finished_at - st.started_at == pytest.approx(5)


async def test_per_container_annotation_does_not_leak_to_siblings(rt, clock):
    sb = pod(annotations={P + "sidecar.exit-after": "1s"})
    sid = await rt.run_pod_sandbox(sb)
    ids = {}
    for name in ("app", "sidecar"):
        ids[name] = await rt.create_container(sid, ContainerConfig(name=name, image=IMAGE), sb)
        await rt.start_container(ids[name])
    await tick(clock, 2)
    states = {n: (await rt.container_status(c)).state for n, c in ids.items()}
    assert states == {"app": ContainerState.RUNNING, "sidecar": ContainerState.EXITED}
    assert {s.id for s in await rt.list_containers(sid)} == set(ids.values())


async def test_start_delay_blocks_start_on_the_clock(rt, clock):
    cid = await run(rt, {P + "start-delay": "2s"}, start=False)
    start = asyncio.ensure_future(rt.start_container(cid))
    await tick(clock, 1.5)
    assert not start.done()
    assert (await rt.container_status(cid)).state == ContainerState.CREATED
    await tick(clock, 0.5)
    await start
    assert (await rt.container_status(cid)).state == ContainerState.RUNNING


async def test_stop_during_start_delay_kills_and_fails_the_start(rt, clock):
    cid = await run(rt, {P + "start-delay": "10s"}, start=False)
    start = asyncio.ensure_future(rt.start_container(cid))
    await settle()
    await rt.stop_container(cid, 30)
    await tick(clock, 10)
    with pytest.raises(FakeRuntimeError, match="stopped while starting"):
        await start
    assert (await rt.container_status(cid)).exit_code == 137


async def test_start_error_reports_start_error_128(rt):
    cid = await run(rt, {P + "start-error": 'exec: "x": executable file not found in $PATH'}, start=False)
    with pytest.raises(FakeRuntimeError, match="failed to create containerd task"):
        await rt.start_container(cid)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 128, "StartError")
    assert "executable file not found" in st.message


async def test_invalid_annotation_fails_creation(rt):
    with pytest.raises(FakeRuntimeError, match="fake.kubeling.io/app.exit-after='soon'"):
        await run(rt, {P + "app.exit-after": "soon"}, start=False)


async def test_name_is_reserved_per_attempt_and_remove_is_idempotent(rt):
    sb = pod()
    sid = await rt.run_pod_sandbox(sb)
    cid = await rt.create_container(sid, ContainerConfig(name="app", image=IMAGE), sb)
    with pytest.raises(FakeRuntimeError, match="name is reserved"):
        await rt.create_container(sid, ContainerConfig(name="app", image=IMAGE), sb)
    retry = await rt.create_container(sid, ContainerConfig(name="app", image=IMAGE, attempt=1), sb)
    await rt.start_container(cid)
    await rt.remove_container(cid)  # running: killed first
    await rt.remove_container(cid)
    with pytest.raises(NotFoundError):
        await rt.container_status(cid)
    with pytest.raises(NotFoundError):
        await rt.stop_container(cid, 0)
    assert [s.id for s in await rt.list_containers()] == [retry]
    await rt.create_container(sid, ContainerConfig(name="app", image=IMAGE), sb)  # name freed


async def test_create_needs_the_image_present(rt):
    sb = pod()
    sid = await rt.run_pod_sandbox(sb)
    with pytest.raises(NotFoundError, match='"docker.io/library/redis:latest"'):
        await rt.create_container(sid, ContainerConfig(name="db", image="redis"), sb)


async def test_events_follow_the_lifecycle(rt, clock):
    seen = []
    rt.add_listener(lambda e: seen.append((e.type, e.pod_name)))
    cid = await run(rt, {P + "exit-after": "1s"})
    await tick(clock, 1)
    await rt.remove_container(cid)
    assert seen == [(t, "web") for t in (CONTAINER_CREATED_EVENT, CONTAINER_STARTED_EVENT,
                                         CONTAINER_STOPPED_EVENT, CONTAINER_DELETED_EVENT)]


# ---------------------------------------------------------------- logs


async def collect(it) -> list[bytes]:
    return [line async for line in it]


async def test_default_log_line_and_configured_lines(rt):
    cid = await run(rt, name="web")
    assert await collect(rt.logs(cid)) == [b"fake container web started\n"]
    cid = await run(rt, {P + "logs": "line1\nline2"}, sandbox=pod("other", {P + "logs": "line1\nline2"}))
    assert await collect(rt.logs(cid)) == [b"line1\n", b"line2\n"]


@pytest.mark.parametrize("kwargs,expected", [
    ({}, [b"a\n", b"b\n", b"c\n", b"d\n"]),
    ({"tail_lines": 2}, [b"c\n", b"d\n"]),
    ({"tail_lines": 0}, []),
    ({"tail_lines": 10}, [b"a\n", b"b\n", b"c\n", b"d\n"]),
    ({"since": 10}, [b"c\n", b"d\n"]),  # seconds after the start; a, b are older
    ({"since": 11}, []),
    ({"tail_lines": 3, "since": 10}, [b"c\n", b"d\n"]),
])
async def test_log_tail_and_since(rt, clock, kwargs, expected):
    t0 = clock.now().timestamp()
    cid = await run(rt, {P + "logs": "a\nb"})
    clock.advance(10)
    for line in ("c", "d"):
        rt.write_log(cid, line)
    if "since" in kwargs:
        kwargs = {**kwargs, "since": t0 + kwargs["since"]}
    assert await collect(rt.logs(cid, **kwargs)) == expected


async def test_log_timestamps_use_rfc3339nano(rt, clock):
    cid = await run(rt)
    clock.advance(0.25)
    rt.write_log(cid, "later")
    lines = await collect(rt.logs(cid, timestamps=True))
    assert lines == [b"2026-01-01T00:00:00Z fake container app started\n",
                     b"2026-01-01T00:00:00.25Z later\n"]


async def test_follow_yields_new_lines_until_exit(rt, clock):
    cid = await run(rt, {P + "exit-after": "5s"})
    got: list[bytes] = []

    async def follow():
        async for line in rt.logs(cid, follow=True, tail_lines=0):
            got.append(line)

    task = asyncio.ensure_future(follow())
    await settle()
    rt.write_log(cid, "one")
    await settle()
    assert got == [b"one\n"]
    rt.write_log(cid, "two")
    await tick(clock, 5)  # exits: the stream ends
    await asyncio.wait_for(task, 1)
    assert got == [b"one\n", b"two\n"]


async def test_logs_of_unknown_container_fail_at_call(rt):
    with pytest.raises(NotFoundError):
        rt.logs("nope")


# ---------------------------------------------------------------- probes and exec


@pytest.mark.parametrize("value,answers", [
    (None, [True, True]),
    ("pass", [True, True]),
    ("fail", [False, False]),
    ("fail-after 10s", [True, False]),
    ("fail-after: 10s", [True, False]),
    ("pass-after 10s", [False, True]),
])
async def test_probe_answers(rt, clock, value, answers):
    ann = {} if value is None else {P + "readiness": value}
    cid = await run(rt, ann)
    got = [await rt.probe(cid, "readiness", {})]
    clock.advance(10)
    got.append(await rt.probe(cid, "readiness", {}))
    assert got == answers
    assert await rt.probe(cid, "liveness", {}) is True  # other kinds unaffected


async def test_probe_per_container_and_not_running_fails(rt):
    cid = await run(rt, {P + "liveness": "pass", P + "app.liveness": "fail"})
    assert await rt.probe(cid, "liveness", {}) is False
    cid = await run(rt, start=False, sandbox=pod("idle"))
    assert await rt.probe(cid, "startup", {}) is False


@pytest.mark.parametrize("annotations,exit_code,stdout", [
    ({}, 0, b""),
    ({P + "exec-exit-code": "3", P + "exec-stdout": "hi"}, 3, b"hi"),
])
async def test_exec_sync(rt, annotations, exit_code, stdout):
    cid = await run(rt, annotations)
    res = await rt.exec_sync(cid, ["true"], 1)
    assert (res.exit_code, res.stdout) == (exit_code, stdout)
    await rt.stop_container(cid, 0)
    with pytest.raises(FailedPreconditionError):
        await rt.exec_sync(cid, ["true"], 1)


# ---------------------------------------------------------------- images


async def test_pull_image_records_it(clock):
    rt = FakeRuntime(clock=clock)
    assert await rt.image_status("busybox") is None
    info = await rt.pull_image("busybox")
    assert info.id.startswith("sha256:") and len(info.id) == 71
    assert info.repo_tags == ["docker.io/library/busybox:latest"]
    assert await rt.image_status("docker.io/library/busybox:latest") == info
    assert await rt.image_status(info.id) == info
    assert await rt.pull_image("busybox:latest") == info  # same image, same id
    assert (await rt.pull_image("busybox:1.36")).id != info.id
    assert len(await rt.list_images()) == 2


async def test_pull_image_fails_or_waits_as_annotated(rt, clock):
    with pytest.raises(ImagePullError, match='failed to pull and unpack image "docker.io/library/x:latest"'):
        await rt.pull_image("x", pod(annotations={P + "image-pull": "fail"}))
    assert await rt.image_status("x") is None
    pull = asyncio.ensure_future(rt.pull_image("y", pod(annotations={P + "image-pull-delay": "3s"})))
    await tick(clock, 2)
    assert not pull.done()
    await tick(clock, 1)
    assert (await pull).repo_tags == ["docker.io/library/y:latest"]


# ---------------------------------------------------------------- scale


async def test_ten_thousand_pods_cost_no_tasks_and_little_time(clock):
    rt = FakeRuntime(clock=clock, pod_cidr="10.244.0.0/16", images=[IMAGE])
    before = len(asyncio.all_tasks())
    t0 = time.perf_counter()
    for i in range(10_000):
        await run(rt, sandbox=pod(f"p{i}"))
    elapsed = time.perf_counter() - t0
    assert len(await rt.list_containers()) == 10_000
    assert len(asyncio.all_tasks()) == before
    assert elapsed < 5, elapsed
    await rt.close()


def test_implements_every_runtime_method():
    import inspect

    from kubeling.kubelet.runtime.base import Runtime
    wanted = [n for n, v in vars(Runtime).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert len(wanted) == 20  # the whole interface, not a subset
    for name in wanted:
        mine = getattr(FakeRuntime, name)
        assert inspect.iscoroutinefunction(mine) == inspect.iscoroutinefunction(getattr(Runtime, name)), name
        params = list(inspect.signature(getattr(Runtime, name)).parameters)
        assert list(inspect.signature(mine).parameters)[:len(params)] == params, name


async def test_exit_after_zero_completes_at_once_and_follow_ends_on_remove(rt, clock):
    cid = await run(rt, {P + "exit-after": "0s"})
    await settle()
    st = await rt.container_status(cid)
    assert (st.state, st.reason) == (ContainerState.EXITED, "Completed")
    other = await run(rt, sandbox=pod("follow"))
    task = asyncio.ensure_future(collect(rt.logs(other, follow=True)))
    await settle()
    assert not task.done()
    await rt.remove_container(other)
    assert await asyncio.wait_for(task, 1) == [b"fake container app started\n"]
