"""The remote-command streaming protocol over WebSocket (what `kubectl exec` speaks), shared by
the API server and the kubelet (k8s.io/apimachinery/pkg/util/remotecommand, client-go
tools/remotecommand/websocket.go, kubelet cri/streaming/remotecommand).

Every WebSocket message is binary: its first byte is the channel (0 stdin, 1 stdout, 2 stderr,
3 error: one metav1.Status JSON when the command ends, 4 resize: {"Width":..,"Height":..}), the
rest is data. v5.channel.k8s.io adds [255, channel]: the sender closed that stream (stdin EOF).
v4.channel.k8s.io is the same without it. The kubelet reaches containerd's stream server over SPDY
(kubelet/spdy.py), where closing the stdin stream carries that end of file.
kubectl 1.30+ offers only v5; older clients and runtimes offer v4.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)  # what kubeling serves, preferred first
NON_ZERO_EXIT_CODE = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"
NEEDS_A_STREAM = "you must specify at least 1 of stdin, stdout, stderr"


class OptionsError(ValueError):
    """Exec options the kubelet refuses (answered 400)."""


# ---- options --------------------------------------------------------------------------------------


@dataclass
class ExecOptions:
    """v1.PodExecOptions minus the container, which is in the kubelet's path."""

    command: list[str] = field(default_factory=list)
    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    tty: bool = False

    @classmethod
    def from_kubelet_query(cls, query) -> ExecOptions:
        """The kubelet's reading (remotecommand NewOptions): a stream is on only when "1";
        a tty has no separate stderr; at least one stream."""
        on = {key: query.get(key, "") == "1" for key in ("stdin", "stdout", "stderr", "tty")}
        if on["tty"]:
            on["stderr"] = False
        if not (on["stdin"] or on["stdout"] or on["stderr"]):
            raise OptionsError(NEEDS_A_STREAM)
        return cls(command=query.getall("command", []), **on)

    def kubelet_query(self) -> list[tuple[str, str]]:
        """The query the API server sends the kubelet (streamParams: "1" for each stream)."""
        flags = [(k, "1") for k in ("stdin", "stdout", "stderr", "tty") if getattr(self, k)]
        return flags + [("command", c) for c in self.command]


# ---- frames ---------------------------------------------------------------------------------------


def frame(channel: int, data: bytes = b"") -> bytes:
    return bytes((channel,)) + data


def parse_frame(message: bytes) -> tuple[int, bytes]:
    if not message:
        raise ValueError("empty remote-command frame")
    return message[0], message[1:]


def close_signal(channel: int) -> bytes:
    """v5: the sender will write no more on `channel`."""
    return bytes((CLOSE, channel))


def parse_resize(data: bytes) -> tuple[int, int]:
    """(width, height) of a resize message."""
    size = json.loads(data)
    return int(size.get("Width", 0)), int(size.get("Height", 0))


# ---- status ---------------------------------------------------------------------------------------


def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The kubelet's Status for a command that ran and exited non-zero; clients print
    `command terminated with exit code N` from the ExitCode cause."""
    go_list = "[" + " ".join(command) + "]"
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command {go_list}, "
                       f"exit code {code}",
            "reason": NON_ZERO_EXIT_CODE,
            "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(code)}]}}


def internal_error(message: str) -> dict[str, Any]:
    """apierrors.NewInternalError: kubectl prints `error: Internal error occurred: ...`."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def exit_code_of(status: dict[str, Any]) -> int | None:
    """What a client makes of a Status: 0, the command's exit code, or None (another failure)."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == NON_ZERO_EXIT_CODE:
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == EXIT_CODE_CAUSE:
                return int(cause["message"])
    return None


SPDY_UNSUPPORTED = ("SPDY/3.1 upgrades are not supported by kubeling: exec needs a WebSocket client "
                    f"({', '.join(PROTOCOLS)}), as kubectl 1.30 and newer are")


def upgrade_refusal(request: web.Request, ws: web.WebSocketResponse) -> str | None:
    """Why this request cannot become a remote-command websocket, or None if it can."""
    if request.headers.get("Upgrade", "").lower().startswith("spdy"):
        return SPDY_UNSUPPORTED
    ready = ws.can_prepare(request)
    if not ready.ok:
        return "Upgrade request required"
    if ready.protocol is None:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        return f"requested protocol(s) are not supported: [{offered}]; supports [{' '.join(PROTOCOLS)}]"
    return None


# ---- one session over a websocket --------------------------------------------------------------------


class Channels:
    """The channels of one session over an aiohttp websocket (server or client end)."""

    def __init__(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, protocol: str):
        self.ws = ws
        self.protocol = protocol

    async def send(self, channel: int, data: bytes = b"") -> None:
        await self.ws.send_bytes(frame(channel, data))

    async def close_stream(self, channel: int) -> None:
        """Signal end of `channel` where the protocol can (v5); v4 has no way to."""
        if self.protocol == V5:
            await self.ws.send_bytes(close_signal(channel))

    async def receive(self) -> tuple[int, bytes] | None:
        """The next (channel, data), or None once the peer closed. A v5 close signal comes as
        (CLOSE, bytes([channel]))."""
        while True:
            msg = await self.ws.receive()
            if msg.type == aiohttp.WSMsgType.BINARY:
                if msg.data:
                    return parse_frame(msg.data)
                continue
            if msg.type == aiohttp.WSMsgType.TEXT:
                continue  # not part of the binary protocols: ignored, as wsstream does
            return None  # CLOSE, CLOSING, CLOSED, ERROR

    async def finish(self, status: dict[str, Any]) -> None:
        """Report how the command ended and close normally; clients read to the close."""
        if not self.ws.closed:
            try:
                await self.send(ERROR, orjson.dumps(status))
            except (ConnectionError, RuntimeError):
                pass  # the client is gone
            await self.ws.close()


def lowest_writable(opts: ExecOptions) -> int:
    """The channel of the empty message that tells a client the session is up."""
    return STDOUT if opts.stdout else STDERR if opts.stderr else ERROR


async def splice(client: Channels, backend: Channels) -> None:
    """Forward frames both ways until either end closes, then close the other. Both ends speak
    the same framing; close signals are dropped toward a v4 peer, which has no use for them."""

    async def pump(src: Channels, dst: Channels) -> None:
        while (item := await src.receive()) is not None:
            channel, data = item
            if channel == CLOSE and dst.protocol != V5:
                continue
            await dst.send(channel, data)

    tasks = [asyncio.ensure_future(pump(client, backend)), asyncio.ensure_future(pump(backend, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # a peer that vanished mid-write
        await backend.ws.close()
        await client.ws.close()
