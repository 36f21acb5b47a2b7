"""Container lifecycle hooks (postStart, preStop): exec in the container, an HTTP GET against
it, or a sleep, run as kubelet's lifecycle handlerRunner does, with its failure messages.

An HTTP hook fails only when the request does (Kubernetes ignores the response status).
"""

from __future__ import annotations

import json

import aiohttp

from kubeling.client.base import Obj
from kubeling.client.clock import Clock
from kubeling.kubelet.probes import _resolve_port
from kubeling.kubelet.runtime.base import Runtime


def go_quote(text: str) -> str:
    """Go's %q of a string (close enough: JSON's escapes, non-ASCII kept)."""
    return json.dumps(text, ensure_ascii=False)


def go_list(items: list[str]) -> str:
    """Go's %v of a []string: [a b c]."""
    return "[" + " ".join(items) + "]"


def format_pod(pod: Obj) -> str:
    md = pod["metadata"]
    return f"{md['name']}_{md.get('namespace', '')}({md.get('uid', '')})"


class HookError(Exception):
    """A failed hook; `message` is what the kubelet records (e.g. in FailedPostStartHook)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


async def _run_exec(runtime: Runtime, container_id: str, command: list[str], timeout: float) -> tuple[str, str]:
    """(error, output) of the command; error is empty on success."""
    try:
        result = await runtime.exec_sync(container_id, command, timeout)
    except Exception as e:  # the runtime could not run it at all
        return str(e) or type(e).__name__, ""
    if result.exit_code == 0:
        return "", ""
    stderr = result.stderr.decode(errors="replace")
    output = (result.stdout + result.stderr).decode(errors="replace")
    return f"command '{' '.join(command)}' exited with {result.exit_code}: {stderr}", output


async def _run_http(action: Obj, pod_ip: str, container: Obj, timeout: float | None) -> str:
    """The request's error ("" when it got any answer)."""
    host = action.get("host") or pod_ip
    scheme = (action.get("scheme") or "HTTP").lower()
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    try:
        port = _resolve_port(action.get("port"), container)
    except ValueError as e:
        return str(e)
    url = f"{scheme}://{host}:{port}{path}"
    headers = {h["name"]: h.get("value", "") for h in action.get("httpHeaders") or ()}
    headers.setdefault("User-Agent", "kube-lifecycle/1.32")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, headers=headers, ssl=False) as resp:
                await resp.read()
        return ""
    except TimeoutError:
        return f'Get "{url}": context deadline exceeded'
    except aiohttp.ClientError as e:
        return f'Get "{url}": {e}'


async def run_hook(runtime: Runtime, clock: Clock, pod: Obj, container: Obj, container_id: str, handler: Obj,
                   pod_ip: str, timeout: float | None = None) -> None:
    """Run one lifecycle handler; raise HookError with Kubernetes' message when it fails.
    `timeout` (seconds) bounds an exec or HTTP hook (None: no bound, as for postStart)."""
    name, where = container["name"], format_pod(pod)
    if "exec" in handler:
        command = [str(a) for a in (handler["exec"] or {}).get("command") or ()]
        error, output = await _run_exec(runtime, container_id, command, timeout or 0)
        if error:
            raise HookError(f"Exec lifecycle hook ({go_list(command)}) for Container {go_quote(name)} in Pod "
                            f"{go_quote(where)} failed - error: {error}, message: {go_quote(output)}")
    elif "httpGet" in handler:
        action = handler["httpGet"] or {}
        error = await _run_http(action, pod_ip, container, timeout)
        if error:
            raise HookError(f"HTTP lifecycle hook ({action.get('path', '')}) for Container {go_quote(name)} in Pod "
                            f"{go_quote(where)} failed - error: {error}")
    elif "sleep" in handler:
        seconds = float((handler["sleep"] or {}).get("seconds") or 0)
        await clock.sleep(min(seconds, timeout) if timeout is not None else seconds)
    else:
        raise HookError(f"Cannot run handler: invalid handler: {handler}")

