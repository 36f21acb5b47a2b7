"""A real containerd for integration and end-to-end tests, with the busybox (two tags) and pause
images imported, and clean-up that leaves no pod, shim or containerd process behind.

    with running_containerd(tmp_path) as containerd: ...        # sync tests and fixtures
    async with containerd_async(tmp_path) as containerd: ...    # async tests
    async with cri_client(containerd.endpoint) as cri: ...      # a started CRIRuntime

Every CRI call here goes through kubeling's own CRIRuntime (the generated criapi messages).
`requires_containerd` skips a test where containerd cannot run (not root, binaries missing).

Tests that run pods on a pod network import the fixtures `pod_network`, `containerd` and
`runtime` (each module that imports them gets its own containerd):

    from tests.support.containerd import containerd_fixture, pod_network_fixture, runtime_fixture  # noqa: F401
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeling.images import BUSYBOX_IMAGE, PAUSE_IMAGE, build_busybox, build_pause, import_images
from kubeling.images.busybox import find_static_busybox
from kubeling.kubelet.cni import write_conflist
from kubeling.kubelet.containerd import Containerd, available, find_cni_bin_dir
from kubeling.kubelet.runtime.base import ContainerConfig, SandboxConfig
from kubeling.kubelet.runtime.cri import CRIError, CRIRuntime
from kubeling.kubelet.runtimes import bridge_name

BUSYBOX_NEXT_IMAGE = "docker.io/library/busybox:1.37"  # a second tag with a different image id
IMAGES = (BUSYBOX_IMAGE, BUSYBOX_NEXT_IMAGE, PAUSE_IMAGE)
CGROUP_PARENT = "/kubeling-cri-test"  # the pods of the `runtime` fixture

requires_containerd = pytest.mark.skipif(available() is not None, reason=f"containerd: {available()}")


def build_test_images(directory: Path) -> list[Path]:
    """Build the three test images' tarballs into `directory` (reused when already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    tars = [directory / "busybox-latest.tar", directory / "busybox-1.37.tar", directory / "pause.tar"]
    if not tars[0].exists():
        build_busybox(tars[0], BUSYBOX_IMAGE)
    if not tars[1].exists():
        build_busybox(tars[1], BUSYBOX_NEXT_IMAGE, extra_file=("etc/busybox-tag", b"1.37\n"))
    if not tars[2].exists():
        build_pause(tars[2])
    return tars


# --- CRI through CRIRuntime -------------------------------------------------------------------

@contextlib.asynccontextmanager
async def cri_client(endpoint: str, *, pod_log_root: str | Path = os.devnull,
                     cgroup_parent: str = "", request_timeout: float = 30) -> AsyncIterator[CRIRuntime]:
    """A started CRIRuntime on `endpoint`, closed on exit. The default pod log root suits calls
    that write no logs (listing, stopping, removing, host-network sandboxes without logs)."""
    runtime = CRIRuntime(endpoint, pod_log_root=pod_log_root, cgroup_parent=cgroup_parent,
                         request_timeout=request_timeout)
    try:
        await runtime.start()
        yield runtime
    finally:
        await runtime.close()


async def remove_sandbox(cri: CRIRuntime, sandbox_id: str, attempts: int = 10) -> None:
    """Stop and remove, retrying: tearing down a network namespace can be briefly busy
    ("remove netns: device or resource busy"), which the kubelet retries too."""
    for attempt in range(attempts):
        try:
            await cri.stop_pod_sandbox(sandbox_id)
            await cri.remove_pod_sandbox(sandbox_id)
            return
        except CRIError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)


async def cleanup_cri(endpoint: str) -> int:
    """Stop and remove every pod sandbox (and so its containers, network and cgroups) through CRI;
    return how many there were. Shims outlive containerd, so tests call this before stopping it."""
    async with cri_client(endpoint) as cri:
        sandboxes = await cri.list_pod_sandboxes()
        for sandbox in sandboxes:
            await remove_sandbox(cri, sandbox.id)
    return len(sandboxes)


async def run_host_network_sandbox(cri: CRIRuntime, name: str, uid: str, namespace: str = "default") -> str:
    """RunPodSandbox for a host-network pod (no CNI needed); return the sandbox id. Proves the
    sandbox (pause) image runs."""
    return await cri.run_pod_sandbox(SandboxConfig(name=name, namespace=namespace, uid=uid, host_network=True))


async def image_tags(cri: CRIRuntime) -> set[str]:
    """Every repo tag CRI's ImageService knows."""
    return {tag for image in await cri.list_images() for tag in image.repo_tags}


def pod(name: str = "p", **kw) -> SandboxConfig:
    """A sandbox config for a fresh pod `name-<uid prefix>` with its own log directory."""
    uid = str(uuid.uuid4())
    return SandboxConfig(name=f"{name}-{uid[:8]}", namespace="default", uid=uid, hostname=name,
                         log_directory=f"default_{name}_{uid}", **kw)


def busybox(name: str, script: str, **kw) -> ContainerConfig:
    """A busybox container running `sh -c script`, logging to <name>/0.log."""
    return ContainerConfig(name=name, image=BUSYBOX_IMAGE, command=["sh", "-c", script],
                           log_path=f"{name}/0.log", **kw)


async def run(cri: CRIRuntime, sandbox: SandboxConfig, sandbox_id: str, name: str, script: str, **kw) -> str:
    """Create and start a busybox container in the sandbox; return its id."""
    container_id = await cri.create_container(sandbox_id, busybox(name, script, **kw), sandbox)
    await cri.start_container(container_id)
    return container_id


async def warm_up_network(cri: CRIRuntime, attempts: int = 5) -> None:
    """One sandbox first, retried: the CNI bridge plugin creates the bridge on the first ADD, and
    here that first attempt now and then fails ("failed to connect veth to bridge: invalid
    argument"); the kubelet would retry it on its next sync."""
    for attempt in range(attempts):
        try:
            sandbox_id = await cri.run_pod_sandbox(pod("warmup"))
        except CRIError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
        else:
            await remove_sandbox(cri, sandbox_id)
            return


# --- a pod network of the tests' own ------------------------------------------------------------

# 10.244.<n>.0/24 for n in this range: away from kubeling's default cluster CIDR (10.42.0.0/16)
# and from the subnets other tests name themselves.
TEST_SUBNETS = range(200, 250)


@dataclass(frozen=True)
class PodNetwork:
    """A bridge and a subnet no other test (in this or another process) uses at the same time."""

    subnet: str
    bridge: str


def _routed_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 destinations of the host's routing table, without the default route."""
    networks = []
    with open("/proc/net/route") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            dest, mask = (ipaddress.IPv4Address(bytes.fromhex(f)[::-1]) for f in (fields[1], fields[7]))
            if int(mask):
                networks.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    return networks


def _network_in_use(network: PodNetwork) -> bool:
    subnet = ipaddress.IPv4Network(network.subnet)
    return Path("/sys/class/net", network.bridge).exists() or any(subnet.overlaps(r) for r in _routed_networks())


def delete_bridge(name: str) -> None:
    """The CNI bridge plugin makes the bridge on the first ADD and never removes it."""
    if Path("/sys/class/net", name).exists():
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False, timeout=30)


@contextlib.contextmanager
def reserve_pod_network() -> Iterator[PodNetwork]:
    """A free test PodNetwork, held by a lock file (released with the process, so never stale);
    its bridge is deleted on exit."""
    for n in TEST_SUBNETS:
        subnet = f"10.244.{n}.0/24"
        network = PodNetwork(subnet=subnet, bridge=bridge_name(subnet))
        with open(Path(tempfile.gettempdir()) / f"kubeling-test-net-{n}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another test process holds it
            if _network_in_use(network):
                continue
            try:
                yield network
            finally:
                delete_bridge(network.bridge)
            return
    raise RuntimeError(f"no free test pod network among 10.244.{TEST_SUBNETS.start}-{TEST_SUBNETS.stop - 1}.0/24")


def why_no_pod_network() -> str | None:
    """None when pods with a CNI network can run here; else why not."""
    why = available()
    if why:
        return why
    if not (Path(find_cni_bin_dir()) / "bridge").exists():
        return "the CNI plugins are not installed (containernetworking-plugins)"
    try:
        find_static_busybox()
    except Exception as e:  # no busybox-static: no images to run
        return f"cannot build images: {e}"
    return None


# --- one containerd ---------------------------------------------------------------------------

def cleanup_tasks(address: str, namespace: str = "k8s.io") -> None:
    """Kill and delete containerd tasks and containers made outside CRI (e.g. `ctr run` in a test)."""
    def ctr(*args: str) -> str:
        return subprocess.run(["ctr", "--address", address, "-n", namespace, *args],
                              capture_output=True, text=True, timeout=30).stdout

    for task in ctr("tasks", "ls", "-q").split():
        ctr("tasks", "kill", "-s", "SIGKILL", task)
        ctr("tasks", "rm", "-f", task)
    for container in ctr("containers", "ls", "-q").split():
        ctr("containers", "rm", container)


def processes_of(containerd: Containerd) -> list[int]:
    """PIDs of live processes started for this containerd: containerd itself and its shims."""
    marks = (containerd.config_path.as_posix().encode(), containerd.address.encode())
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state != "Z" and any(mark in cmdline for mark in marks):
                pids.append(int(proc.name))
    return pids


def pod_log_root(containerd: Containerd) -> Path:
    """Where pod logs go, beside containerd's home as `kubeling agent` keeps them (DATA_DIR/pod-logs)."""
    return containerd.data_dir / "pod-logs"


@contextlib.asynccontextmanager
async def containerd_async(tmp_dir: Path, *, images: bool = True, cni_conf_dir: Path | None = None,
                           network: PodNetwork | None = None):
    """A started `Containerd` under `tmp_dir` with the test images imported; cleaned up on exit.
    With a `network`, its CNI config is kubeling's own conflist for that bridge and subnet, and
    the network has carried one sandbox before this yields."""
    containerd = Containerd(Path(tmp_dir) / "data", cni_conf_dir=cni_conf_dir)
    if network is not None:
        write_conflist(containerd.cni_conf_dir, network.subnet, bridge=network.bridge,
                       data_dir=Path(tmp_dir) / "cni-networks")
    await containerd.start()
    try:
        if images:
            tars = build_test_images(Path(tmp_dir) / "images")
            await asyncio.to_thread(import_images, containerd.address, tars)
        if network is not None:
            async with cri_client(containerd.endpoint, pod_log_root=pod_log_root(containerd),
                                  cgroup_parent=CGROUP_PARENT) as cri:
                await warm_up_network(cri)
        yield containerd
    finally:
        try:
            await cleanup_cri(containerd.endpoint)
            await asyncio.to_thread(cleanup_tasks, containerd.address)
        finally:
            await containerd.stop()
            _wait_gone(containerd)
            discard_short_state(containerd)


def discard_short_state(containerd: Containerd) -> None:
    """Remove the /run/kubeling-<hash> state dir a long tmp path made containerd use (tests only:
    outside tests it is kept, like /run/containerd)."""
    if containerd.uses_short_state_dir:
        shutil.rmtree(containerd.state, ignore_errors=True)


def _wait_gone(containerd: Containerd, timeout: float = 10) -> None:
    """Shims exit shortly after their last task is deleted; wait so later tests start clean."""
    deadline = time.monotonic() + timeout
    while processes_of(containerd) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextlib.contextmanager
def running_containerd(tmp_dir: Path, *, images: bool = True, cni_conf_dir: Path | None = None,
                       network: PodNetwork | None = None):
    """The same as `containerd_async` for synchronous code (fixtures of e2e tests): it drives its own
    event loop, so it must not be entered from inside a running loop."""
    loop = asyncio.new_event_loop()
    manager = containerd_async(tmp_dir, images=images, cni_conf_dir=cni_conf_dir, network=network)
    try:
        containerd = loop.run_until_complete(manager.__aenter__())
        try:
            yield containerd
        except BaseException as exc:
            if not loop.run_until_complete(manager.__aexit__(type(exc), exc, exc.__traceback__)):
                raise
        else:
            loop.run_until_complete(manager.__aexit__(None, None, None))
    finally:
        loop.close()


# --- fixtures: a containerd with a pod network, one per importing test module -----------------

@pytest.fixture(scope="module", name="pod_network")
def pod_network_fixture() -> Iterator[PodNetwork]:
    why = why_no_pod_network()
    if why:
        pytest.skip(why)
    with reserve_pod_network() as network:
        yield network


@pytest.fixture(scope="module", name="containerd")
def containerd_fixture(pod_network: PodNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    with running_containerd(tmp_path_factory.mktemp("containerd"), network=pod_network) as containerd:
        yield containerd


@pytest.fixture(name="runtime")
async def runtime_fixture(containerd: Containerd) -> AsyncIterator[CRIRuntime]:
    """A CRIRuntime on the module's containerd; the sandboxes a test makes are removed after it."""
    async with cri_client(containerd.endpoint, pod_log_root=pod_log_root(containerd), cgroup_parent=CGROUP_PARENT,
                          request_timeout=120) as cri:
        made_before = {sandbox.id for sandbox in await cri.list_pod_sandboxes()}
        try:
            yield cri
        finally:
            for sandbox in await cri.list_pod_sandboxes():
                if sandbox.id not in made_before:
                    await remove_sandbox(cri, sandbox.id)
