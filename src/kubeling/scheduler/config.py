"""KubeSchedulerConfiguration-style profiles: which plugins run where, their weights and args.

The default profile is kube-scheduler v1.32's default plugin set (minus the volume plugins,
which have nothing to do without volumes), expanded over the extension points each plugin
implements (`multiPoint`). A configuration file can enable/disable plugins per extension
point, change score weights, give plugin args and set percentageOfNodesToScore.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeling.scheduler import framework as fw
from kubeling.scheduler.registry import PLUGINS
from kubeling.scheduler.runtime import Framework

DEFAULT_SCHEDULER = "default-scheduler"

# (plugin, score weight) in kube-scheduler's default multiPoint order.
DEFAULT_MULTIPOINT: tuple[tuple[str, int], ...] = (
    ("PrioritySort", 0), ("NodeUnschedulable", 0), ("NodeName", 0), ("TaintToleration", 3),
    ("NodeAffinity", 2), ("NodePorts", 0), ("NodeResourcesFit", 1), ("PodTopologySpread", 2),
    ("InterPodAffinity", 2), ("DefaultPreemption", 0), ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1), ("DefaultBinder", 0),
)

# Extension point -> the method a plugin implements to take part in it.
EXTENSION_POINTS = {
    "queueSort": "less", "preFilter": "pre_filter", "filter": "filter", "postFilter": "post_filter",
    "preScore": "pre_score", "score": "score", "reserve": "reserve", "permit": "permit",
    "preBind": "pre_bind", "bind": "bind", "postBind": "post_bind",
}


@dataclass
class ProfileConfig:
    scheduler_name: str = DEFAULT_SCHEDULER
    multi_point: list[tuple[str, int]] = field(default_factory=lambda: list(DEFAULT_MULTIPOINT))
    enabled: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # per extension point
    disabled: dict[str, set[str]] = field(default_factory=dict)  # per extension point ("*" for all)
    plugin_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None


def load_config(path: str | Path | None) -> list[ProfileConfig]:
    if not path:
        return [ProfileConfig()]
    return parse_config(yaml.safe_load(Path(path).read_text()) or {})


def parse_config(doc: dict[str, Any]) -> list[ProfileConfig]:
    kind = doc.get("kind", "KubeSchedulerConfiguration")
    if kind != "KubeSchedulerConfiguration":
        raise ValueError(f"expected kind KubeSchedulerConfiguration, got {kind!r}")
    global_pct = doc.get("percentageOfNodesToScore")
    profiles = []
    for p in doc.get("profiles") or [{}]:
        cfg = ProfileConfig(scheduler_name=p.get("schedulerName") or DEFAULT_SCHEDULER,
                            percentage_of_nodes_to_score=p.get("percentageOfNodesToScore", global_pct))
        for point, spec in (p.get("plugins") or {}).items():
            disabled = {d["name"] for d in spec.get("disabled") or []}
            enabled = [(e["name"], int(e.get("weight") or 0)) for e in spec.get("enabled") or []]
            for name, _ in enabled:
                if name not in PLUGINS:
                    raise ValueError(f"unknown scheduler plugin {name!r}")
            if point == "multiPoint":
                cfg.multi_point = _merge(cfg.multi_point, enabled, disabled)
            else:
                cfg.enabled[point] = enabled
                cfg.disabled[point] = disabled
        for pc in p.get("pluginConfig") or []:
            cfg.plugin_args[pc["name"]] = pc.get("args") or {}
        profiles.append(cfg)
    names = [c.scheduler_name for c in profiles]
    if len(set(names)) != len(names):
        raise ValueError("duplicate schedulerName in profiles")
    return profiles


def _merge(defaults: list[tuple[str, int]], enabled: list[tuple[str, int]],
           disabled: set[str]) -> list[tuple[str, int]]:
    """The defaults minus the disabled ones ("*": all), a re-configured default kept in its
    place (so filter order stays the same), then the other enabled plugins (v1 mergePluginSet)."""
    custom = dict(enabled)
    kept = [] if "*" in disabled else [(n, custom.get(n, w)) for n, w in defaults if n not in disabled]
    kept_names = {n for n, _ in kept}
    return kept + [(n, w) for n, w in enabled if n not in kept_names]


def build_framework(cfg: ProfileConfig, handle: fw.Handle, rng: random.Random | None = None) -> Framework:
    """Instantiate each plugin once and place it at every extension point it implements."""
    instances: dict[str, fw.Plugin] = {}

    def instance(name: str) -> fw.Plugin:
        if name not in instances:
            if name not in PLUGINS:
                raise ValueError(f"unknown scheduler plugin {name!r}")
            instances[name] = PLUGINS[name](handle, cfg.plugin_args.get(name))
        return instances[name]

    points: dict[str, list[fw.Plugin]] = {}
    weights: dict[str, int] = {}
    for point, method in EXTENSION_POINTS.items():
        disabled = cfg.disabled.get(point, set())
        chosen: list[fw.Plugin] = []
        if "*" not in disabled:
            for name, weight in cfg.multi_point:
                if name in disabled or name not in PLUGINS:
                    continue
                plugin = instance(name)
                if hasattr(plugin, method):
                    chosen.append(plugin)
                    if point == "score" and weight:
                        weights[name] = weight
        # kube-scheduler's order: plugins enabled here that multiPoint also placed (in this
        # point's order), then the rest of multiPoint, then the other plugins enabled here.
        specific = [instance(name) for name, _ in cfg.enabled.get(point, [])]
        from_multi = {p.name for p in chosen}
        overrides = [p for p in specific if p.name in from_multi]
        chosen = overrides + [p for p in chosen if p not in overrides] + \
            [p for p in specific if p.name not in from_multi]
        if point == "score":
            for name, weight in cfg.enabled.get(point, []):
                weights[name] = weight or weights.get(name, 1)
        points[point] = chosen
    for p in points.get("score", []):
        weights.setdefault(p.name, 1)
    return Framework(cfg.scheduler_name, points, weights, cfg.percentage_of_nodes_to_score, handle, rng)
