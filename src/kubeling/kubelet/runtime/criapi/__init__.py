"""CRI v1 (runtime.v1) messages and the table of its RPCs, for a generic gRPC client (grpc_unary).

`api_pb2` is generated from `api.proto` (a subset of k8s.io/cri-api's api.proto with upstream's
field numbers) by `regen.sh`; no gRPC stubs are generated: `RPCS` is built from the services in
the proto's descriptor, so a client and a test server share one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from kubeling.kubelet.runtime.criapi import api_pb2 as pb

__all__ = ["RPCS", "Rpc", "pb"]


@dataclass(frozen=True)
class Rpc:
    service: str  # "RuntimeService" | "ImageService"
    name: str  # "RunPodSandbox"
    path: str  # "/runtime.v1.RuntimeService/RunPodSandbox", the HTTP/2 path gRPC calls
    request: type[Message]
    response: type[Message]


def _rpcs() -> dict[str, Rpc]:
    table = {}
    for service in pb.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            table[method.name] = Rpc(
                service=service.name, name=method.name, path=f"/{service.full_name}/{method.name}",
                request=getattr(pb, method.input_type.name), response=getattr(pb, method.output_type.name))
    return table


RPCS: dict[str, Rpc] = _rpcs()
