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
                            store_url=args.store or ""))


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
    server.set_defaults(func=_server)

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
