"""The kubelet's /exec bridged to real containerd's stream server (CRI Exec, SPDY/3.1 with
v4.channel.k8s.io): a v5 client session in, the command's output and exit status out, and the
client's close of stdin reaching the command as end of file. Skipped where containerd or the CNI
plugins are missing (the fixtures come from tests/support/containerd.py)."""

from __future__ import annotations

import io
import tarfile
from urllib.parse import urlencode

import aiohttp
import orjson

from kubeling.kubelet import remotecommand as rc
from kubeling.kubelet.server import KubeletServer
from tests.support.containerd import (  # noqa: F401  (fixtures: pod_network, containerd, runtime)
    containerd_fixture,
    pod,
    pod_network_fixture,
    run,
    runtime_fixture,
)


async def _exec(runtime, cid: str, streams: str, script: str, send=()) -> list[tuple[int, bytes]]:
    query = "&".join([f"{s}=1" for s in streams.split(",")] + [urlencode({"command": c}) for c in ("sh", "-c", script)])
    status = {"containerStatuses": [{"name": "main", "containerID": f"containerd://{cid}", "state": {"running": {}}}]}
    known = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "main"}]},
             "status": status}
    server = KubeletServer(runtime, lambda ns, name: known, port=0, authenticate=lambda r: True)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"http://127.0.0.1:{server.port}/exec/ns/p/main?{query}", protocols=(rc.V5,))
            for message in send:
                await ws.send_bytes(message)
            return [rc.parse_frame(msg.data) async for msg in ws]
    finally:
        await server.stop()


def _joined(frames, channel: int) -> bytes:
    return b"".join(data for ch, data in frames if ch == channel)


async def test_exec_through_containerd(runtime):
    config = pod("exec")
    sid = await runtime.run_pod_sandbox(config)
    cid = await run(runtime, config, sid, "main", "sleep 1000")

    frames = await _exec(runtime, cid, "stdout,stderr", "echo out; echo err >&2; exit 7")
    assert (_joined(frames, rc.STDOUT), _joined(frames, rc.STDERR)) == (b"out\n", b"err\n")
    assert rc.exit_code_of(orjson.loads(_joined(frames, rc.ERROR))) == 7

    # stdin reaches the process, even without its end
    frames = await _exec(runtime, cid, "stdin,stdout", "read l; echo got $l",
                         send=[rc.frame(rc.STDIN, b"hello\n")])
    assert _joined(frames, rc.STDOUT) == b"got hello\n"
    assert orjson.loads(_joined(frames, rc.ERROR))["status"] == "Success"


async def test_stdin_end_of_file_reaches_the_container(runtime):
    config = pod("exec-eof")
    sid = await runtime.run_pod_sandbox(config)
    cid = await run(runtime, config, sid, "main", "sleep 1000")

    # `cat` returns only once its stdin ends: the v5 close signal became FIN on the SPDY stream
    frames = await _exec(runtime, cid, "stdin,stdout,stderr", "cat; echo done",
                         send=[rc.frame(rc.STDIN, b"hello\n"), rc.close_signal(rc.STDIN)])
    assert _joined(frames, rc.STDOUT) == b"hello\ndone\n"
    assert orjson.loads(_joined(frames, rc.ERROR))["status"] == "Success"

    # more than SPDY's 64 KiB window, in pieces: nothing waits for window updates
    piece = bytes(range(256)) * 256
    frames = await _exec(runtime, cid, "stdin,stdout", "wc -c",
                         send=[rc.frame(rc.STDIN, piece)] * 5 + [rc.close_signal(rc.STDIN)])
    assert _joined(frames, rc.STDOUT).strip() == str(5 * len(piece)).encode()

    # what `kubectl cp` does: a tar archive on stdin, extracted by the container's tar
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        content = b"copied through stdin\n"
        info = tarfile.TarInfo("dir/file.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    frames = await _exec(runtime, cid, "stdin,stdout,stderr", "mkdir -p /tmp/in && tar -xmf - -C /tmp/in",
                         send=[rc.frame(rc.STDIN, archive.getvalue()), rc.close_signal(rc.STDIN)])
    assert orjson.loads(_joined(frames, rc.ERROR))["status"] == "Success", frames
    frames = await _exec(runtime, cid, "stdout", "cat /tmp/in/dir/file.txt")
    assert _joined(frames, rc.STDOUT) == content


async def test_terminal_session_with_resize(runtime):
    config = pod("exec-tty")
    sid = await runtime.run_pod_sandbox(config)
    cid = await run(runtime, config, sid, "main", "sleep 1000")

    # a terminal has a resize stream instead of stderr; the size reaches the container's pty
    # (the size is sent once the shell has read its line: a resize racing the pty's set-up is lost)
    frames = await _exec(runtime, cid, "stdin,stdout,tty", "read l; sleep 0.3; stty size",
                         send=[rc.frame(rc.STDIN, b"x\r"), rc.frame(rc.RESIZE, b'{"Width":100,"Height":30}')])
    assert b"30 100" in _joined(frames, rc.STDOUT)
    assert orjson.loads(_joined(frames, rc.ERROR))["status"] == "Success"
