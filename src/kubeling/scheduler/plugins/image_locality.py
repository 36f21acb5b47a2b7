"""ImageLocality: prefer nodes that already hold the pod's images, weighted by image size and
scaled down for images present on many nodes (so that pods don't pile onto one node).

Kubernetes compares names after only appending `:latest`; kubeling also fills in the
implicit registry (`nginx` == `docker.io/library/nginx:latest`) on both sides, since the
kubelet reports fully qualified names while pods usually carry short ones. Every pair
Kubernetes matches still matches.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from kubeling.scheduler import framework, node_table
from kubeling.scheduler.framework import MAX_NODE_SCORE, CycleState, NodeInfo, Obj, Plugin, Status
from kubeling.scheduler.registry import register

NAME = "ImageLocality"
PRE_SCORE_KEY = "PreScore" + NAME
SUMMARY_KEY = NAME + "/summary"

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB  # below this, an image is too small to matter
MAX_CONTAINER_THRESHOLD = 1000 * MB  # per container: larger images score the same

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_EMPTY: dict[str, int] = {}


@functools.lru_cache(maxsize=8192)
def normalize_image(name: str) -> str:
    """A fully qualified reference: registry, `library/` for official images, `:latest` when
    neither tag nor digest is given."""
    slash = name.find("/")
    first = name[:slash] if slash >= 0 else ""
    if slash < 0 or (not any(ch in first for ch in ".:") and first != "localhost" and first.lower() == first):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = first, name[slash + 1:]
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = "library/" + rest
    ref = f"{domain}/{rest}"
    if "@" not in ref and ref.rfind(":") <= ref.rfind("/"):
        ref += ":latest"
    return ref


def node_images(node: Obj) -> dict[str, int]:
    """Normalized image name -> size in bytes, from node.status.images."""
    out: dict[str, int] = {}
    for image in (node.get("status") or {}).get("images") or []:
        size = int(image.get("sizeBytes") or 0)
        for name in image.get("names") or []:
            out.setdefault(normalize_image(name), size)
    return out


def pod_images(pod: Obj) -> list[str]:
    """One normalized name per container, init containers included (duplicates kept)."""
    spec = pod.get("spec") or {}
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    return [normalize_image(c.get("image") or "") for c in containers]


def scaled_image_score(size: int, num_nodes: int, total_nodes: int) -> int:
    spread = float(num_nodes) / float(total_nodes)
    return int(float(size) * spread)


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    sum_scores = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


@register
class ImageLocality(Plugin):
    name = NAME

    def __init__(self, handle: Any, args: dict[str, Any] | None = None):
        super().__init__(handle, args)
        self._index: dict[int, tuple[Obj, dict[str, int]]] = {}  # id(node) -> (node, images)

    def _images(self, node: Obj) -> dict[str, int]:
        if not (node.get("status") or {}).get("images"):
            return _EMPTY
        hit = self._index.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        if len(self._index) > 2 * len(self.handle.snapshot) + 64:
            self._index.clear()  # drop entries of replaced node objects
        images = node_images(node)
        self._index[id(node)] = (node, images)
        return images

    def _summary(self, state: CycleState, names: list[str]) -> dict[str, tuple[int, int]]:
        """name -> (size, number of nodes holding it) over the whole snapshot, once per cycle;
        the node table keeps the counts as nodes change, so this does not walk the nodes."""
        summary = state.get(SUMMARY_KEY)
        if summary is None:
            summary = state[SUMMARY_KEY] = node_table.of(self.handle.snapshot).image_summary(names)
        return summary

    def pre_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> Status:
        names = state[PRE_SCORE_KEY] = pod_images(pod)
        if not node_table.of(self.handle.snapshot).any_image(names):
            return framework.skip()  # no node holds any of them: every score would be 0
        return framework.SUCCESS

    def score(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> tuple[int, Status]:
        names = state.get(PRE_SCORE_KEY)
        if names is None:
            names = state[PRE_SCORE_KEY] = pod_images(pod)
        images = self._images(node_info.node)
        if not names or not any(n in images for n in names):
            return 0, framework.SUCCESS  # the global counts are needed only for nodes with a hit
        summary = self._summary(state, names)
        total = len(self.handle.snapshot)
        total_score = sum(scaled_image_score(summary[n][0], summary[n][1], total)
                          for n in names if n in images and n in summary)
        return calculate_priority(total_score, len(names)), framework.SUCCESS

    def score_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[int] | np.ndarray:
        """score() for every node, from the node table's image columns: once every node holds the
        pod's image, node by node this took a sixth of the scheduler's time."""
        names = state.get(PRE_SCORE_KEY)
        if names is None:
            names = state[PRE_SCORE_KEY] = pod_images(pod)
        table = node_table.of(self.handle.snapshot)
        rows = table.rows(nodes)
        if rows is None or not names:
            return [self.score(state, pod, n)[0] for n in nodes]
        summary = self._summary(state, names)
        total = len(self.handle.snapshot)
        sums = np.zeros(len(nodes), dtype=np.int64)
        for name in names:  # a name twice (two containers) counts twice, as in score()
            if name in summary:
                held = table.image_column(name)[rows]
                sums += np.where(held, scaled_image_score(summary[name][0], summary[name][1], total), 0)
        max_threshold = MAX_CONTAINER_THRESHOLD * len(names)
        clipped = np.clip(sums, MIN_THRESHOLD, max_threshold)
        # A node holding none of them sums to 0, clipped to the threshold: 0, as score() says.
        return MAX_NODE_SCORE * (clipped - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)

    def events_to_register(self) -> list[str]:
        return []  # a score plugin never rejects a pod
