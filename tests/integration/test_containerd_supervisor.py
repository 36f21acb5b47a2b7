"""kubeling's own containerd: config, start, image import, CRI answering, and a clean stop.
Against the real containerd, runc and ctr (skipped where they cannot run)."""

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kubeling.images import ImageImportError, import_dir, import_images
from kubeling.kubelet.containerd import Containerd, ContainerdError, available, cri_ready
from tests.support.containerd import (
    IMAGES,
    build_test_images,
    cleanup_cri,
    containerd_async,
    cri_client,
    discard_short_state,
    image_tags,
    processes_of,
    requires_containerd,
    reserve_pod_network,
    run_host_network_sandbox,
)


def ctr(containerd: Containerd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ctr", "--address", containerd.address, "-n", "k8s.io", *args],
                          capture_output=True, text=True, timeout=30)


def test_config_carries_what_this_machine_needs():
    c = Containerd(Path("/srv/kubeling"), cni_bin_dir="/cni/bin", sandbox_image="example.com/pause:1")
    toml = c.config_toml()
    for line in ["version = 2", "restrict_oom_score_adj = true", "SystemdCgroup = false",
                 "disable_apparmor = true", 'snapshotter = "overlayfs"', 'runtime_type = "io.containerd.runc.v2"',
                 'sandbox_image = "example.com/pause:1"', 'bin_dir = "/cni/bin"',
                 f'conf_dir = "{c.cni_conf_dir}"', f'root = "{c.root}"', f'Root = "{c.runc_root}"',
                 f'address = "{c.address}"']:
        assert line in toml, line
    assert c.endpoint == "unix://" + c.address
    assert c.address == "/srv/kubeling/containerd/containerd.sock"
    assert c.state == Path("/srv/kubeling/containerd/state") and not c.uses_short_state_dir


def test_long_data_dir_gets_a_short_socket_dir(tmp_path):
    c = Containerd(tmp_path / ("d" * 120))
    assert c.address.startswith("/run/kubeling-") and len(c.address + ".ttrpc") <= 107
    assert c.uses_short_state_dir and c.state == Path(c.address).parent
    assert c.root.is_relative_to(tmp_path)
    assert Containerd(tmp_path / ("d" * 120)).address == c.address  # stable across restarts


@requires_containerd
async def test_start_import_answer_and_stop(tmp_path):
    tars = build_test_images(tmp_path / "images")
    c = Containerd(tmp_path / "data")
    await c.start()
    try:
        assert c.pid and c.started_in < 20
        version = await c.version()
        assert version["runtime_name"] == "containerd" and version["runtime_api_version"] == "v1"
        assert version["runtime_version"] and await cri_ready(c.endpoint)
        assert "Server:" in ctr(c, "version").stdout
        with pytest.raises(ContainerdError, match="already serving"):
            await Containerd(tmp_path / "data").start()

        assert await asyncio.to_thread(import_images, c.address, tars) == list(IMAGES)
        listed = ctr(c, "images", "ls", "-q").stdout.split()
        assert set(IMAGES) <= set(listed)
        async with cri_client(c.endpoint) as cri:
            assert set(IMAGES) <= await image_tags(cri)  # usable by CRI, not only by ctr
        ids = {line.split()[0]: line.split()[2] for line in ctr(c, "images", "ls").stdout.splitlines()[1:]}
        assert ids[IMAGES[0]] != ids[IMAGES[1]]  # the two busybox tags are different images
    finally:
        pid = c.pid
        await c.stop()
    assert c.pid is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert processes_of(c) == []
    await c.stop()  # idempotent
    discard_short_state(c)


@requires_containerd
async def test_restart_keeps_images(tmp_path):
    async with containerd_async(tmp_path, images=False) as c:
        import_images(c.address, build_test_images(tmp_path / "images")[:1])
    c2 = Containerd(tmp_path / "data")
    await c2.start()
    try:
        assert IMAGES[0] in ctr(c2, "images", "ls", "-q").stdout.split()
    finally:
        await c2.stop()
        discard_short_state(c2)


@requires_containerd
async def test_pause_image_runs_sandboxes_and_cleanup_removes_them(tmp_path):
    async with containerd_async(tmp_path) as c, cri_client(c.endpoint) as cri:
        sandbox = await run_host_network_sandbox(cri, "web-0", "uid-1")
        assert [s.id for s in await cri.list_pod_sandboxes()] == [sandbox]
        assert ctr(c, "tasks", "ls").stdout.count("RUNNING") == 1
        began = time.monotonic()
        assert await cleanup_cri(c.endpoint) == 1
        assert time.monotonic() - began < 5  # the pause process stops on SIGTERM at once
        assert await cri.list_pod_sandboxes() == []
        await run_host_network_sandbox(cri, "web-1", "uid-2")  # left for the fixture to clean
    assert processes_of(c) == []


@requires_containerd
async def test_import_errors_are_clear(tmp_path):
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"not a tar")
    async with containerd_async(tmp_path, images=False) as c:
        with pytest.raises(ImageImportError, match="importing .*bogus.tar failed"):
            import_images(c.address, [bogus])
        with pytest.raises(ImageImportError, match="no such file"):
            import_images(c.address, [tmp_path / "missing.tar"])
        airgap = tmp_path / "airgap"
        airgap.mkdir()
        shutil.copy(build_test_images(tmp_path / "images")[2], airgap / "pause.tar")
        (airgap / "README").write_text("not an image")
        assert import_dir(c.address, airgap) == [IMAGES[2]]
    with pytest.raises(ImageImportError, match="no containerd is listening"):
        import_images(c.address, [bogus])


def test_test_pod_networks_are_held_one_at_a_time():
    with reserve_pod_network() as first, reserve_pod_network() as second:
        assert first.subnet != second.subnet and first.bridge != second.bridge
        assert all(len(n.bridge) <= 15 for n in (first, second))  # Linux's limit for interface names


async def test_nothing_listening_is_not_ready(tmp_path):
    assert not await cri_ready(f"unix://{tmp_path}/none.sock")


def test_available_says_why_not(monkeypatch):
    if available() is None:
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
        assert "root" in available()
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "containerd" in available() and "not found on PATH" in available()


@requires_containerd
async def test_cli_builds_and_imports(tmp_path, capsys):
    from kubeling.cli import main

    out = tmp_path / "app.tar"
    assert main(["image", "build-busybox", str(out), "--name", "example.com/app:v2"]) == 0
    async with containerd_async(tmp_path, images=False) as c:
        code = await asyncio.to_thread(main, ["image", "import", "--data-dir", str(tmp_path / "data"), str(out)])
        assert code == 0 and "example.com/app:v2" in capsys.readouterr().out
        assert "example.com/app:v2" in ctr(c, "images", "ls", "-q").stdout.split()
    assert main(["image", "import", "--address", c.address, str(out)]) == 1
    assert "no containerd is listening" in capsys.readouterr().err

