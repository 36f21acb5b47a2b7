"""Running the API server: PKI, store, watch cache, bootstrap objects, TLS listener, kubeconfig."""

from __future__ import annotations

import asyncio
import copy
import logging
import signal
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kubeling import gctune
from kubeling.api import errors, registry
from kubeling.apiserver import admission, podlogs
from kubeling.apiserver.app import READY_KEY, build_app
from kubeling.apiserver.certs import Pki, ensure_pki
from kubeling.apiserver.eventttl import run_event_ttl
from kubeling.apiserver.kubeconfig import admin_kubeconfig, write_kubeconfig
from kubeling.apiserver.storage import ResourceStore, WriteOptions
from kubeling.apiserver.watchcache import WatchCache
from kubeling.store import open_backend

log = logging.getLogger("kubeling.server")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Store history kept for watch resume and paged lists (etcd keeps ~5 minutes in Kubernetes).
KEEP_REVISIONS = 10_000


@dataclass
class ServerConfig:
    data_dir: Path
    port: int = 6443
    bind: str = "127.0.0.1"
    store_url: str = ""
    controllers: str = "*"  # kube-controller-manager's --controllers syntax; "" runs none
    scheduler: bool = True
    scheduler_config: str = ""  # a KubeSchedulerConfiguration file
    cluster_cidr: str = "10.42.0.0/16"  # nodeipam: the range node podCIDRs are cut from
    node_cidr_mask_size: int = 24  # nodeipam: each node's podCIDR prefix length
    agent_runtime: str = ""  # "fake" or "cri": also run a local node agent (kubeling up)
    container_runtime_endpoint: str = ""  # cri: use this CRI socket instead of our own containerd
    node_name: str = ""

    def store(self) -> str:
        return self.store_url or f"sqlite://{self.data_dir / 'state.db'}"


def tls_context(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    # Client certificates are optional: clients may authenticate with a bearer token instead.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    return ctx


async def bootstrap(store: ResourceStore) -> None:
    """The namespaces and priority classes every cluster starts with."""
    namespaces = registry.lookup("", "v1", "namespaces")
    objects = [(namespaces, {"metadata": {"name": name}}) for name in SYSTEM_NAMESPACES]
    objects += [(admission.PRIORITY_CLASSES, dict(pc)) for pc in admission.SYSTEM_PRIORITY_CLASSES]
    for rt, obj in objects:
        if store.cache.get(rt.storage_key(None, obj["metadata"]["name"])) is not None:
            continue
        try:
            await store.create(rt, None, copy.deepcopy(obj), WriteOptions())
        except errors.ApiError as e:
            if e.code != 409:
                raise


async def serve(config: ServerConfig, stop: asyncio.Event) -> None:
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig_path = data_dir / "kubeconfig.yaml"
    kubeconfig_path.unlink(missing_ok=True)  # it reappears once we answer /readyz
    pki = ensure_pki(data_dir)
    backend = open_backend(config.store(), keep_revisions=KEEP_REVISIONS)
    await backend.start()
    cache = WatchCache(backend)
    runner = None
    components: list[tuple[asyncio.Task, object]] = []
    event_ttl: asyncio.Task | None = None
    try:
        await cache.start()
        store = ResourceStore(backend, cache)
        await bootstrap(store)
        gctune.tune_for_large_heap()  # the cache is loaded: collect less, and never rescan it
        app = build_app(store, pki.token())
        podlogs.configure(app, pki)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, config.bind, config.port, ssl_context=tls_context(pki), backlog=1024,
                           reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # the real port when asked for port 0
        app[READY_KEY].append(True)
        event_ttl = asyncio.create_task(run_event_ttl(store), name="event-ttl")
        components = await start_components(config, store)
        if config.agent_runtime:
            components.append(await start_local_agent(config, store))
        # Written last: its presence means the API answers (and, for `up`, the node takes pods).
        write_kubeconfig(kubeconfig_path, admin_kubeconfig(pki, f"https://127.0.0.1:{port}"))
        log.info("kubeling API server ready on https://%s:%d (kubeconfig %s)", config.bind, port, kubeconfig_path)
        await stop.wait()
        log.info("stopping")
    finally:
        if event_ttl is not None:
            event_ttl.cancel()
            await asyncio.gather(event_ttl, return_exceptions=True)
        await stop_components(components)
        if runner is not None:
            await runner.cleanup()
        await cache.stop()
        await backend.close()


async def start_components(config: ServerConfig, store: ResourceStore) -> list[tuple[asyncio.Task, object]]:
    """The control-plane components that run in the server's process. They are API clients
    like any other, through the in-process transport: the same storage layer, validation,
    defaulting and watch cache as HTTPS requests, without encoding, TLS and HTTP on both
    ends of a loopback connection (run them standalone to have them use HTTPS)."""
    from kubeling.client.local import LocalClient
    from kubeling.controllers.manager import parse_controllers, run_controller_manager

    components = []
    enabled = parse_controllers(config.controllers)
    if enabled:
        client = LocalClient(store)
        from kubeling.controllers.nodeipam import NodeIPAMSettings

        options = {"nodeipam": NodeIPAMSettings.parse(config.cluster_cidr, config.node_cidr_mask_size)}
        task = asyncio.create_task(run_controller_manager(client, enabled=enabled, options=options),
                                   name="controller-manager")
        components.append((task, client))
    if config.scheduler:
        from kubeling.scheduler.config import load_config
        from kubeling.scheduler.scheduler import run_scheduler

        client = LocalClient(store)
        profiles = load_config(config.scheduler_config or None)
        task = asyncio.create_task(run_scheduler(client, profiles=profiles), name="scheduler")
        components.append((task, client))
    return components


async def start_local_agent(config: ServerConfig, store: ResourceStore) -> tuple[asyncio.Task, object]:
    """`kubeling up`: one kubelet in the server's process, registered before the kubeconfig appears."""
    import socket

    from kubeling.client.local import LocalClient
    from kubeling.kubelet.agent import Kubelet
    from kubeling.kubelet.runtimes import open_runtime

    node_runtime = await open_runtime(config.agent_runtime, config.data_dir,
                                      endpoint=config.container_runtime_endpoint)
    client = LocalClient(store)
    kubelet = Kubelet(client, node_runtime.runtime, node_name=config.node_name or socket.gethostname().lower(),
                      kubelet_port=0, client_ca_pem=Pki(config.data_dir / "pki").ca_cert.read_bytes(),
                      root_dir=config.data_dir / "kubelet", on_pod_cidr=node_runtime.on_pod_cidr,
                      await_pod_cidr=node_runtime.await_pod_cidr)
    try:
        await kubelet.start()
        await kubelet.wait_ready()
    except BaseException:
        await kubelet.stop()
        await node_runtime.close()
        raise

    async def run() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await kubelet.stop()
            await node_runtime.close()

    return asyncio.create_task(run(), name="kubelet"), client


async def stop_components(components: list[tuple[asyncio.Task, object]]) -> None:
    for task, client in components:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


def run(config: ServerConfig) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    return 0
