"""The kubelet's /exec bridged to real containerd's stream server (CRI Exec, v4.channel.k8s.io):
a v5 client session in, the command's output and exit status out. Skipped where containerd
or the CNI plugins are missing (the fixtures come from tests/support/containerd.py)."""

from __future__ import annotations

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

    # stdin reaches the process (its end cannot: v4 has no close signal, so the command reads a line)
    frames = await _exec(runtime, cid, "stdin,stdout", "read l; echo got $l",
                         send=[rc.frame(rc.STDIN, b"hello\n")])
    assert _joined(frames, rc.STDOUT) == b"got hello\n"
    assert orjson.loads(_joined(frames, rc.ERROR))["status"] == "Success"
