"""DefaultBinder: binds the pod through the API (POST pods/NAME/binding)."""

from __future__ import annotations

from kubeling.api import errors, registry
from kubeling.scheduler import framework as fw
from kubeling.scheduler.registry import register

PODS = registry.lookup("", "v1", "pods")


@register
class DefaultBinder(fw.Plugin):
    name = "DefaultBinder"

    async def bind(self, state: fw.CycleState, pod: fw.Obj, node_name: str) -> fw.Status:
        md = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md.get("uid")},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        try:
            await self.handle.client.create(PODS, md.get("namespace"), binding, subresource="binding",
                                            name=md["name"])
        except errors.ApiError as e:
            return fw.error(e.message)
        return fw.SUCCESS
