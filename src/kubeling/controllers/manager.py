"""The controller-manager: every controller, sharing one informer factory, behind leader election.

Run inside `kubeling server` (the default) or alone as `kubeling controller-manager
--kubeconfig FILE`. Either way it is only an API client: it reads through informers and
writes through the API server, like every other component.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeling import gctune
from kubeling.client.base import Client
from kubeling.client.clock import REAL, Clock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.leaderelection import run_while_leader

log = logging.getLogger("kubeling.controller-manager")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


@dataclass(frozen=True)
class ControllerSpec:
    name: str  # as in kube-controller-manager's --controllers
    component: str  # the Events' source component
    target: str  # "module:Class"
    workers: int


CONTROLLERS = (
    ControllerSpec("replicaset", "replicaset-controller", "kubeling.controllers.replicaset:ReplicaSetController", 5),
    ControllerSpec("deployment", "deployment-controller", "kubeling.controllers.deployment:DeploymentController", 5),
    ControllerSpec("garbagecollector", "garbage-collector-controller",
                   "kubeling.controllers.garbagecollector:GarbageCollector", 5),
    ControllerSpec("namespace", "namespace-controller", "kubeling.controllers.namespace:NamespaceController", 2),
    ControllerSpec("nodelifecycle", "node-controller",
                   "kubeling.controllers.nodelifecycle:NodeLifecycleController", 8),
    ControllerSpec("nodeipam", "cidrAllocator", "kubeling.controllers.nodeipam:NodeIPAMController", 4),
)


def _load(target: str) -> Callable:
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


async def run_controllers(client: Client, *, clock: Clock = REAL, enabled: set[str] | None = None,
                          options: dict[str, Any] | None = None) -> None:
    """Run every enabled controller until cancelled. `options` maps a controller's name to the
    settings object it takes (e.g. {"nodeipam": NodeIPAMSettings.parse(...)})."""
    factory = InformerFactory(client, clock=clock)
    recorders = []
    controllers = []
    for spec in CONTROLLERS:
        if enabled is not None and spec.name not in enabled:
            continue
        recorder = EventRecorder(client, spec.component, host=socket.gethostname(), clock=clock)
        recorders.append(recorder)
        extra = {"settings": options[spec.name]} if options and spec.name in options else {}
        controllers.append(_load(spec.target)(client, factory, recorder, clock=clock, workers=spec.workers,
                                              **extra))
    try:
        await factory.start()
        await factory.wait_for_sync()
        gctune.tune_for_large_heap()  # the informer caches hold the cluster: collect less, never rescan them
        for controller in controllers:
            await controller.start()
        log.info("controllers running: %s", ", ".join(type(c).__name__ for c in controllers))
        await asyncio.Event().wait()  # until cancelled
    finally:
        for controller in controllers:
            await controller.stop()
        await factory.stop()
        for recorder in recorders:
            await recorder.close()


async def run_controller_manager(client: Client, *, leader_elect: bool = True, identity: str = "",
                                 clock: Clock = REAL, enabled: set[str] | None = None,
                                 options: dict[str, Any] | None = None) -> None:
    """Run the controllers, only while this process holds the controller-manager Lease."""
    if not leader_elect:
        await run_controllers(client, clock=clock, enabled=enabled, options=options)
        return
    await run_while_leader(client, namespace=LEASE_NAMESPACE, name=LEASE_NAME,
                           lead=lambda: run_controllers(client, clock=clock, enabled=enabled, options=options),
                           identity=identity, clock=clock, component="controller-manager")


def parse_controllers(value: str) -> set[str]:
    """kube-controller-manager's --controllers syntax: `*` for all, `name` to enable,
    `-name` to disable, e.g. `*,-garbagecollector`; "" runs none."""
    known = {spec.name for spec in CONTROLLERS}
    enabled: set[str] = set()
    for item in (v.strip() for v in value.split(",")):
        if item == "*":
            enabled |= known
        elif item.startswith("-"):
            enabled.discard(item[1:])
        elif item:
            if item not in known:
                raise ValueError(f"unknown controller {item!r}; known: {', '.join(sorted(known))}")
            enabled.add(item)
    return enabled
