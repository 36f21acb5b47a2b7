"""Which container runtime a node agent uses, and opening it.

  fake  containers simulated in memory (runtime/fake.py): no root, no containerd, any scale.
  cri   real containers through CRI (runtime/cri.py). With an endpoint, that runtime is used as
        it is configured. Without one the agent runs its own containerd under DATA_DIR/containerd,
        as k3s does: it imports every image tarball in DATA_DIR/images/ (k3s's air-gap
        convention), makes sure the pause image is there (built locally: no registry is
        needed), and writes the CNI config for the node's podCIDR into containerd's CNI conf
        dir once the node IPAM controller has given the node one.
  auto  cri when containerd and runc are installed and we are root, else fake, saying why.

Stopping an agent that runs its own containerd removes its pod sandboxes first: the kubelet
does not adopt the containers of an earlier run, so leaving them would leak them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeling.kubelet.runtime.base import Runtime

log = logging.getLogger("kubeling.kubelet")

KINDS = ("auto", "fake", "cri")


def choose(requested: str) -> tuple[str, str]:
    """(kind, why): `auto` becomes cri where containerd can run here, else fake with the reason."""
    if requested != "auto":
        return requested, ""
    from kubeling.kubelet.containerd import available

    why = available()
    if why:
        return "fake", f"using the fake runtime (containers are simulated): {why}"
    return "cri", ""


@dataclass
class NodeRuntime:
    """An opened runtime and what the kubelet must do for it."""

    runtime: Runtime
    on_pod_cidr: Callable[[str], Any] | None = None  # network config follows the node's podCIDR
    await_pod_cidr: bool = False  # the node is not Ready until it has one (no CNI config before)
    closers: list[Callable[[], Any]] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self.closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as e:  # go on closing the rest
                log.warning("closing the runtime: %s", e)


async def open_runtime(kind: str, data_dir: Path | None, *, endpoint: str = "") -> NodeRuntime:
    if kind == "fake":
        from kubeling.kubelet.runtime.fake import FakeRuntime

        return NodeRuntime(FakeRuntime())
    if kind != "cri":
        raise ValueError(f"unknown runtime {kind!r} (want one of {', '.join(KINDS)})")
    if data_dir is None:
        raise ValueError("the cri runtime needs a data dir (--data-dir) for pod logs and volumes")
    data_dir = Path(data_dir).absolute()
    if endpoint:
        return await _open_cri(endpoint, data_dir)
    return await _open_own_containerd(data_dir)


async def _open_cri(endpoint: str, data_dir: Path) -> NodeRuntime:
    from kubeling.kubelet.runtime.cri import CRIRuntime

    runtime = CRIRuntime(endpoint, pod_log_root=data_dir / "pod-logs")
    await runtime.start()
    return NodeRuntime(runtime, closers=[runtime.close])


async def _open_own_containerd(data_dir: Path) -> NodeRuntime:
    from kubeling.kubelet.cni import write_conflist
    from kubeling.kubelet.containerd import Containerd

    containerd = Containerd(data_dir)
    await containerd.start()
    opened = NodeRuntime(None)  # type: ignore[arg-type]  # set below, once CRI answers
    opened.closers.append(containerd.stop)
    try:
        cri = await _open_cri(containerd.endpoint, data_dir)
        opened.runtime = cri.runtime
        opened.closers += cri.closers
        # The kubelet closes its runtime when it stops; the clean-up gets a connection of its own.
        opened.closers.append(lambda: remove_all_sandboxes(containerd.endpoint, data_dir))
        await _import_images(containerd, data_dir / "images", cri.runtime)
    except BaseException:
        await opened.close()
        raise

    def on_pod_cidr(cidr: str) -> None:
        # One bridge per node, named after its podCIDR (unique, and under Linux's 15 characters),
        # so that several agents on one machine do not share a bridge.
        write_conflist(containerd.cni_conf_dir, cidr, bridge=bridge_name(cidr),
                       data_dir=containerd.home / "cni" / "networks")

    opened.on_pod_cidr, opened.await_pod_cidr = on_pod_cidr, True
    return opened


def bridge_name(pod_cidr: str) -> str:
    """"10.42.3.0/24" -> "kl-10-42-3"."""
    octets = pod_cidr.split("/")[0].split(".")
    return "kl-" + "-".join(octets[:3])


async def remove_all_sandboxes(endpoint: str, data_dir: Path) -> None:
    from kubeling.kubelet.runtime.cri import CRIRuntime

    runtime = CRIRuntime(endpoint, pod_log_root=data_dir / "pod-logs")
    await runtime.start()
    try:
        sandboxes = await runtime.list_pod_sandboxes()
        for sb in sandboxes:
            try:
                await runtime.stop_pod_sandbox(sb.id)
                await runtime.remove_pod_sandbox(sb.id)
            except Exception as e:
                log.warning("removing pod sandbox %s: %s", sb.id, e)
        if sandboxes:
            log.info("removed %d pod sandbox(es)", len(sandboxes))
    finally:
        await runtime.close()


async def _import_images(containerd, images_dir: Path, runtime: Runtime) -> None:
    """Import the air-gap tarballs not imported before (by name, size and mtime), and make sure
    the pause image exists (built from the static busybox when it does not)."""
    from kubeling.images import PAUSE_IMAGE, build_pause, import_images

    record = containerd.home / "imported-images.json"
    try:
        seen = json.loads(record.read_text())
    except (OSError, ValueError):
        seen = {}
    files = sorted(p for p in images_dir.glob("*") if p.is_file() and p.name.endswith((".tar", ".tar.gz", ".tgz")))
    todo = [p for p in files if seen.get(p.name) != [p.stat().st_size, p.stat().st_mtime]]
    if todo:
        names = await asyncio.to_thread(import_images, containerd.address, todo)
        log.info("imported %s from %s", ", ".join(names), images_dir)
        seen.update({p.name: [p.stat().st_size, p.stat().st_mtime] for p in todo})
        record.write_text(json.dumps(seen))
    if await runtime.image_status(PAUSE_IMAGE) is None:
        pause = containerd.home / "pause.tar"
        await asyncio.to_thread(build_pause, pause, PAUSE_IMAGE)
        await asyncio.to_thread(import_images, containerd.address, [pause])
        log.info("built and imported the pause image %s", PAUSE_IMAGE)
