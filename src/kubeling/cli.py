"""The `kubeling` command."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kubeling import KUBERNETES_VERSION, __version__


def _server(args: argparse.Namespace) -> int:
    from kubeling.apiserver.server import ServerConfig, run

    return run(ServerConfig(data_dir=Path(args.data_dir).resolve(), port=args.port, bind=args.bind,
                            store_url=args.store or "", controllers=args.controllers,
                            scheduler=not args.disable_scheduler, scheduler_config=args.scheduler_config or ""))


def _controller_manager(args: argparse.Namespace) -> int:

    from kubeling.client.rest import RestClient
    from kubeling.controllers.manager import parse_controllers, run_controller_manager

    async def main() -> None:
        client = RestClient.from_kubeconfig(args.kubeconfig)
        try:
            await run_controller_manager(client, leader_elect=args.leader_elect,
                                         enabled=parse_controllers(args.controllers))
        finally:
            await client.close()

    return _run_until_signal(main)


def _scheduler(args: argparse.Namespace) -> int:
    from kubeling.client.rest import RestClient
    from kubeling.scheduler.config import load_config
    from kubeling.scheduler.scheduler import run_scheduler

    profiles = load_config(args.config)

    async def main() -> None:
        client = RestClient.from_kubeconfig(args.kubeconfig)
        try:
            await run_scheduler(client, leader_elect=args.leader_elect, profiles=profiles)
        finally:
            await client.close()

    return _run_until_signal(main)


def _run_until_signal(main) -> int:
    """Run a coroutine until it ends or SIGTERM/SIGINT arrives, on uvloop when available."""
    import asyncio
    import signal

    async def supervised() -> None:
        task = asyncio.ensure_future(main())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    try:
        import uvloop

        uvloop.run(supervised())
    except ImportError:
        asyncio.run(supervised())
    return 0


def _version(args: argparse.Namespace) -> int:
    print(f"kubeling {__version__} (Kubernetes API {KUBERNETES_VERSION})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubeling", description="A small Kubernetes-compatible orchestrator.")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    sub = p.add_subparsers(dest="command", required=True)

    server = sub.add_parser("server", help="run the API server")
    server.add_argument("--data-dir", required=True, help="where state, certificates and kubeconfig.yaml live")
    server.add_argument("--port", type=int, default=6443, help="HTTPS port (0 picks a free one)")
    server.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    server.add_argument("--store", default=None, help="store URL (default sqlite://DATA_DIR/state.db)")
    server.add_argument("--controllers", default="*",
                        help="controllers to run in-process: '*' all, 'name' enable, '-name' disable, '' none")
    server.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler in-process")
    server.add_argument("--scheduler-config", default=None, help="KubeSchedulerConfiguration file for the scheduler")
    server.set_defaults(func=_server)

    sched = sub.add_parser("scheduler", help="run the scheduler against an API server")
    sched.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    sched.add_argument("--config", default=None, help="KubeSchedulerConfiguration file (profiles, plugins, weights)")
    sched.add_argument("--leader-elect", default=True, type=lambda v: v.lower() in ("1", "true", "yes"),
                       help="take the kube-system/kube-scheduler Lease before acting (default true)")
    sched.set_defaults(func=_scheduler)

    cm = sub.add_parser("controller-manager", help="run the controllers against an API server")
    cm.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    cm.add_argument("--leader-elect", default=True, type=lambda v: v.lower() in ("1", "true", "yes"),
                    help="take the kube-system/kube-controller-manager Lease before acting (default true)")
    cm.add_argument("--controllers", default="*", help="'*' all, 'name' enable, '-name' disable")
    cm.set_defaults(func=_controller_manager)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=_version)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
