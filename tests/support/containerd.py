"""A real containerd for integration and end-to-end tests, with the busybox (two tags) and pause
images imported, and clean-up that leaves no pod, shim or containerd process behind.

    with running_containerd(tmp_path) as containerd: ...        # sync tests and fixtures
    async with containerd_async(tmp_path) as containerd: ...    # async tests

`requires_containerd` skips a test where containerd cannot run (not root, binaries missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kubeling.images import BUSYBOX_IMAGE, PAUSE_IMAGE, build_busybox, build_pause, import_images
from kubeling.kubelet.containerd import Containerd, available

BUSYBOX_NEXT_IMAGE = "docker.io/library/busybox:1.37"  # a second tag with a different image id
IMAGES = (BUSYBOX_IMAGE, BUSYBOX_NEXT_IMAGE, PAUSE_IMAGE)

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


# --- CRI clean-up over raw gRPC: no generated stubs needed, only three tiny messages. -----------

def _field_string(number: int, value: str) -> bytes:
    data = value.encode()
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(raw: bytes) -> list[tuple[int, bytes]]:
    """(number, value) of every length-delimited field; varints skipped."""
    out, pos = [], 0
    while pos < len(raw):
        key, pos = _read_varint(raw, pos)
        if key & 7 == 2:
            size, pos = _read_varint(raw, pos)
            out.append((key >> 3, raw[pos:pos + size]))
            pos += size
        elif key & 7 == 0:
            _, pos = _read_varint(raw, pos)
        elif key & 7 == 1:
            pos += 8
        elif key & 7 == 5:
            pos += 4
        else:
            raise ValueError(f"unexpected wire type {key & 7}")
    return out


async def cleanup_cri(endpoint: str) -> int:
    """Stop and remove every pod sandbox (and so its containers, network and cgroups) through CRI;
    return how many there were. Shims outlive containerd, so tests call this before stopping it."""
    ids = await list_sandbox_ids(endpoint)
    for sandbox_id in ids:
        request = _field_string(1, sandbox_id)  # {Stop,Remove}PodSandboxRequest.pod_sandbox_id = 1
        await cri_call(endpoint, "RuntimeService/StopPodSandbox", request)
        await cri_call(endpoint, "RuntimeService/RemovePodSandbox", request)
    return len(ids)


def _field_message(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


async def cri_call(endpoint: str, method: str, request: bytes = b"", timeout: float = 30) -> bytes:
    """One raw CRI call, e.g. cri_call(ep, "RuntimeService/ListPodSandbox"); returns the response bytes."""
    import grpc

    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.unary_unary(f"/runtime.v1.{method}", request_serializer=None, response_deserializer=None)
        return await call(request, timeout=timeout)


async def run_host_network_sandbox(endpoint: str, name: str, uid: str, namespace: str = "default") -> str:
    """RunPodSandbox for a host-network pod (no CNI needed); return the sandbox id. Proves the
    sandbox (pause) image runs."""
    metadata = _field_string(1, name) + _field_string(2, uid) + _field_string(3, namespace)
    # LinuxPodSandboxConfig.security_context(2).namespace_options(1).network(1) = NODE (2)
    linux = _field_message(2, _field_message(1, _field_varint(1, 2)))
    # PodSandboxConfig: metadata = 1, (hostname = 2 stays empty for host network), linux = 8
    config = _field_message(1, metadata) + _field_message(8, linux)
    response = await cri_call(endpoint, "RuntimeService/RunPodSandbox", _field_message(1, config))
    return next(value.decode() for num, value in _fields(response) if num == 1)


async def list_sandbox_ids(endpoint: str) -> list[str]:
    listing = await cri_call(endpoint, "RuntimeService/ListPodSandbox")
    # ListPodSandboxResponse.items = 1; PodSandbox.id = 1
    return [value.decode() for num, item in _fields(listing) if num == 1
            for inner, value in _fields(item) if inner == 1]


async def list_image_tags(endpoint: str) -> set[str]:
    """Every repo tag CRI's ImageService knows (ListImagesResponse.images = 1; Image.repo_tags = 2)."""
    listing = await cri_call(endpoint, "ImageService/ListImages")
    return {value.decode() for num, image in _fields(listing) if num == 1
            for inner, value in _fields(image) if inner == 2}


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


@contextlib.asynccontextmanager
async def containerd_async(tmp_dir: Path, *, images: bool = True, cni_conf_dir: Path | None = None):
    """A started `Containerd` under `tmp_dir` with the test images imported; cleaned up on exit."""
    containerd = Containerd(Path(tmp_dir) / "data", cni_conf_dir=cni_conf_dir)
    await containerd.start()
    try:
        if images:
            tars = build_test_images(Path(tmp_dir) / "images")
            await asyncio.to_thread(import_images, containerd.address, tars)
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
def running_containerd(tmp_dir: Path, *, images: bool = True, cni_conf_dir: Path | None = None):
    """The same as `containerd_async` for synchronous code (fixtures of e2e tests): it drives its own
    event loop, so it must not be entered from inside a running loop."""
    loop = asyncio.new_event_loop()
    manager = containerd_async(tmp_dir, images=images, cni_conf_dir=cni_conf_dir)
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
