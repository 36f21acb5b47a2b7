"""The `kubeling` command."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kubeling import KUBERNETES_VERSION, __version__


def _nodeipam_settings(args: argparse.Namespace):
    from kubeling.controllers.nodeipam import NodeIPAMSettings

    try:
        return NodeIPAMSettings.parse(args.cluster_cidr, args.node_cidr_mask_size)
    except ValueError as e:
        raise SystemExit(f"kubeling: {e}") from None


def _server_config(args: argparse.Namespace, **extra):
    from kubeling.apiserver.server import ServerConfig

    _nodeipam_settings(args)  # fail early on a bad range
    return ServerConfig(data_dir=Path(args.data_dir).resolve(), port=args.port, bind=args.bind,
                        store_url=args.store or "", controllers=args.controllers,
                        scheduler=not args.disable_scheduler, scheduler_config=args.scheduler_config or "",
                        cluster_cidr=args.cluster_cidr, node_cidr_mask_size=args.node_cidr_mask_size, **extra)


def _server(args: argparse.Namespace) -> int:
    from kubeling.apiserver.server import run

    return run(_server_config(args))


def _controller_manager(args: argparse.Namespace) -> int:

    from kubeling.client.rest import RestClient
    from kubeling.controllers.manager import parse_controllers, run_controller_manager

    ipam = _nodeipam_settings(args)

    async def main() -> None:
        client = RestClient.from_kubeconfig(args.kubeconfig)
        try:
            await run_controller_manager(client, leader_elect=args.leader_elect,
                                         enabled=parse_controllers(args.controllers), options={"nodeipam": ipam})
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


def _agent(args: argparse.Namespace) -> int:
    import socket

    from kubeling.client.rest import RestClient
    from kubeling.kubelet.agent import Kubelet
    from kubeling.kubelet.runtimes import choose, open_runtime

    data_dir = Path(args.data_dir).resolve() if args.data_dir else None
    kind, why = choose(args.runtime if data_dir or args.runtime != "auto" else "fake")
    if why:
        print(f"kubeling: {why}", file=sys.stderr)

    async def main() -> None:
        import asyncio

        try:
            node_runtime = await open_runtime(kind, data_dir, endpoint=args.container_runtime_endpoint or "")
        except (ValueError, RuntimeError) as e:
            raise SystemExit(f"kubeling: cannot start the {kind} runtime: {e}") from None
        client = RestClient.from_kubeconfig(args.kubeconfig)
        conn = client.connection
        ca = conn.ca_data or (Path(conn.ca_file).read_bytes() if conn.ca_file else None)
        kubelet = Kubelet(client, node_runtime.runtime, node_name=args.node_name or socket.gethostname().lower(),
                          node_ip=args.node_ip or "", kubelet_port=args.kubelet_port, client_ca_pem=ca,
                          root_dir=data_dir / "kubelet" if data_dir else None,
                          on_pod_cidr=node_runtime.on_pod_cidr, await_pod_cidr=node_runtime.await_pod_cidr)
        try:
            await kubelet.start()
            await asyncio.Event().wait()
        finally:
            await kubelet.stop()
            await node_runtime.close()
            await client.close()

    return _run_until_signal(main)


def _sim(args: argparse.Namespace) -> int:
    from kubeling.client.rest import RestClient
    from kubeling.kubelet.sim import SimulatedNodes, pod_connections

    async def main() -> None:
        import asyncio

        client = RestClient.from_kubeconfig(args.kubeconfig, max_connections=pod_connections(args.nodes))
        nodes = SimulatedNodes(client, args.nodes, name_prefix=args.name_prefix, images=args.image)
        try:
            await nodes.start()
            await asyncio.Event().wait()
        finally:
            await nodes.stop()
            await client.close()

    return _run_until_signal(main)


def _up(args: argparse.Namespace) -> int:
    from kubeling.apiserver.server import run
    from kubeling.kubelet.runtimes import choose

    kind, why = choose(args.runtime)
    if why:
        print(f"kubeling: {why}", file=sys.stderr)
    return run(_server_config(args, agent_runtime=kind, node_name=args.node_name or "",
                              container_runtime_endpoint=args.container_runtime_endpoint or ""))


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


def _image(args: argparse.Namespace) -> int:
    """`kubeling image import|build-busybox|build-pause`: local images, no registry needed."""
    from kubeling.images import ImageImportError, build_busybox, build_pause, import_images

    if args.image_command == "build-busybox":
        print(build_busybox(Path(args.out), args.name))
    elif args.image_command == "build-pause":
        print(build_pause(Path(args.out), args.name))
    else:
        from kubeling.kubelet.containerd import Containerd

        address = args.address or Containerd(Path(args.data_dir)).address
        try:
            for name in import_images(address, [Path(f) for f in args.files]):
                print(name)
        except ImageImportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


def _version(args: argparse.Namespace) -> int:
    print(f"kubeling {__version__} (Kubernetes API {KUBERNETES_VERSION})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubeling", description="A small Kubernetes-compatible orchestrator.")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    sub = p.add_subparsers(dest="command", required=True)

    server = sub.add_parser("server", help="run the API server (with the controller-manager and scheduler)")
    up = sub.add_parser("up", help="run the server and a local node agent in one process")
    for p_ in (server, up):
        p_.add_argument("--cluster-cidr", default="10.42.0.0/16",
                        help="IPv4 range for pod IPs; the nodeipam controller gives each node a block of it")
        p_.add_argument("--node-cidr-mask-size", type=int, default=24,
                        help="prefix length of each node's block of --cluster-cidr")
        p_.add_argument("--data-dir", required=True, help="where state, certificates and kubeconfig.yaml live")
        p_.add_argument("--port", type=int, default=6443, help="HTTPS port (0 picks a free one)")
        p_.add_argument("--bind", default="127.0.0.1", help="address to listen on")
        p_.add_argument("--store", default=None, help="store URL (default sqlite://DATA_DIR/state.db)")
        p_.add_argument("--controllers", default="*",
                        help="controllers to run in-process: '*' all, 'name' enable, '-name' disable, '' none")
        p_.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler in-process")
        p_.add_argument("--scheduler-config", default=None, help="KubeSchedulerConfiguration file for the scheduler")
    server.set_defaults(func=_server)
    up.add_argument("--runtime", default="auto", choices=("auto", "fake", "cri"),
                    help="container runtime of the local node (auto: cri where containerd can run, else fake)")
    up.add_argument("--container-runtime-endpoint", default=None,
                    help="CRI socket (unix:///...) of a runtime to use; default: run our own containerd")
    up.add_argument("--node-name", default=None, help="the local node's name (default: the hostname)")
    up.set_defaults(func=_up)

    agent = sub.add_parser("agent", help="run a node agent (kubelet)")
    agent.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    agent.add_argument("--container-runtime-endpoint", default=None,
                    help="CRI socket (unix:///...) of a runtime to use; default: run our own containerd")
    agent.add_argument("--node-name", default=None, help="the node's name (default: the hostname)")
    agent.add_argument("--node-ip", default=None, help="the node's InternalIP (default: the hostname's address)")
    agent.add_argument("--runtime", default="auto", choices=("auto", "fake", "cri"),
                       help="container runtime (auto: cri where containerd can run and --data-dir is given, else fake)")
    agent.add_argument("--data-dir", default=None, help="the agent's state directory")
    agent.add_argument("--kubelet-port", type=int, default=10250, help="HTTPS port for logs (0 picks a free one)")
    agent.set_defaults(func=_agent)

    sim = sub.add_parser("sim", help="run N simulated nodes (fake runtime) in one process, like kwok")
    sim.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    sim.add_argument("--nodes", type=int, required=True, help="how many nodes")
    sim.add_argument("--name-prefix", default="sim-node-", help="node names are PREFIX0, PREFIX1, ...")
    sim.add_argument("--image", action="append", default=[], metavar="REF",
                     help="an image every node has from the start, as if pulled before (repeatable)")
    sim.set_defaults(func=_sim)

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
    cm.add_argument("--cluster-cidr", default="10.42.0.0/16",
                    help="IPv4 range for pod IPs; the nodeipam controller gives each node a block of it")
    cm.add_argument("--node-cidr-mask-size", type=int, default=24,
                    help="prefix length of each node's block of --cluster-cidr")
    cm.set_defaults(func=_controller_manager)

    image = sub.add_parser("image", help="build local images and import them into containerd")
    image_sub = image.add_subparsers(dest="image_command", required=True)
    imp = image_sub.add_parser("import", help="import image tarballs (OCI layout or docker-archive)")
    imp.add_argument("files", nargs="+", metavar="FILE", help="image tarballs (.tar, .tar.gz)")
    where = imp.add_mutually_exclusive_group(required=True)
    where.add_argument("--address", help="containerd socket")
    where.add_argument("--data-dir", help="the data dir of `kubeling up|agent` whose containerd to use")
    busybox = image_sub.add_parser("build-busybox", help="write a busybox image tarball from the static busybox")
    busybox.add_argument("out", metavar="OUT.tar")
    busybox.add_argument("--name", default="docker.io/library/busybox:latest", help="image reference")
    pause = image_sub.add_parser("build-pause", help="write the pause (sandbox) image tarball")
    pause.add_argument("out", metavar="OUT.tar")
    pause.add_argument("--name", default="registry.k8s.io/pause:3.9", help="image reference")
    image.set_defaults(func=_image)

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
