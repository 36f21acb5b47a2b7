"""KubeSchedulerConfiguration profiles: kube-scheduler v1.32's default plugin placement and
weights, enabling/disabling plugins (per extension point and through multiPoint), custom
weights, plugin args, percentageOfNodesToScore, several profiles, and the errors."""

from __future__ import annotations

import random
import textwrap

import pytest

from kubeling.scheduler import framework as fw
from kubeling.scheduler import plugins as _plugins  # noqa: F401 - registers every plugin
from kubeling.scheduler.config import DEFAULT_SCHEDULER, ProfileConfig, build_framework, load_config, parse_config
from kubeling.scheduler.framework import CycleState, NodeInfo, PodInfo
from kubeling.scheduler.runtime import FitError

API_VERSION = "kubescheduler.config.k8s.io/v1"


def config(*profiles: dict, **top) -> dict:
    return {"apiVersion": API_VERSION, "kind": "KubeSchedulerConfiguration", "profiles": list(profiles), **top}


def build(cfg: ProfileConfig, node_infos: list[NodeInfo] | None = None):
    return build_framework(cfg, fw.Handle(fw.Snapshot(node_infos or [])), random.Random(0))


def names(framework, point: str) -> list[str]:
    return [p.name for p in framework.plugins(point)]


def only(doc: dict) -> ProfileConfig:
    profiles = parse_config(doc)
    assert len(profiles) == 1
    return profiles[0]


# ---- the default profile ------------------------------------------------------------------------

# kube-scheduler v1.32's expanded default profile, without the volume plugins (kubeling has no
# volumes to bind) and without the feature-gated DynamicResources.
DEFAULT_POINTS = {
    "queueSort": ["PrioritySort"],
    "preFilter": ["NodeAffinity", "NodePorts", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"],
    "filter": ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
               "PodTopologySpread", "InterPodAffinity"],
    "postFilter": ["DefaultPreemption"],
    "score": ["TaintToleration", "NodeAffinity", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity",
              "NodeResourcesBalancedAllocation", "ImageLocality"],
    "bind": ["DefaultBinder"],
}
DEFAULT_WEIGHTS = {"TaintToleration": 3, "NodeAffinity": 2, "PodTopologySpread": 2, "InterPodAffinity": 2,
                   "NodeResourcesFit": 1, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}


@pytest.mark.parametrize("point", sorted(DEFAULT_POINTS))
def test_default_profile_places_each_plugin_at_its_extension_points(point):
    assert names(build(ProfileConfig()), point) == DEFAULT_POINTS[point]


def test_default_profile_score_weights_and_pre_score():
    f = build(ProfileConfig())
    assert f.weights == DEFAULT_WEIGHTS
    # Every Kubernetes PreScore plugin of the default set (ImageLocality may add one of its own).
    assert set(names(f, "preScore")) >= {"TaintToleration", "NodeAffinity", "NodeResourcesFit", "PodTopologySpread",
                                         "InterPodAffinity", "NodeResourcesBalancedAllocation"}
    assert f.name == DEFAULT_SCHEDULER and f.percentage_of_nodes_to_score is None
    assert names(f, "reserve") == names(f, "permit") == names(f, "preBind") == names(f, "postBind") == []


def test_each_plugin_is_instantiated_once_per_profile():
    f = build(ProfileConfig())
    fit = [p for p in f.plugins("filter") if p.name == "NodeResourcesFit"][0]
    assert any(p is fit for p in f.plugins("score")) and any(p is fit for p in f.plugins("preFilter"))


@pytest.mark.parametrize("doc", [{}, {"kind": "KubeSchedulerConfiguration"}, config(),
                                 config({"schedulerName": "default-scheduler"})])
def test_an_empty_configuration_is_the_default_profile(doc):
    assert parse_config(doc) == [ProfileConfig()]


def test_load_config_without_a_file_is_the_default_profile():
    assert load_config(None) == [ProfileConfig()]


# ---- enabling and disabling ---------------------------------------------------------------------


def test_disabling_a_plugin_in_multi_point_removes_it_everywhere():
    f = build(only(config({"plugins": {"multiPoint": {"disabled": [{"name": "TaintToleration"}]}}})))
    for point in ("filter", "preScore", "score"):
        assert "TaintToleration" not in names(f, point)
    assert "TaintToleration" not in f.weights
    assert names(f, "filter")[:3] == ["NodeUnschedulable", "NodeName", "NodeAffinity"]


def test_disabling_a_plugin_at_one_extension_point_keeps_it_at_the_others():
    f = build(only(config({"plugins": {"score": {"disabled": [{"name": "NodeResourcesFit"}]}}})))
    assert "NodeResourcesFit" not in names(f, "score")
    assert "NodeResourcesFit" not in f.weights
    assert "NodeResourcesFit" in names(f, "filter") and "NodeResourcesFit" in names(f, "preFilter")


def test_disabling_every_score_plugin():
    f = build(only(config({"plugins": {"score": {"disabled": [{"name": "*"}]}}})))
    assert names(f, "score") == [] and f.weights == {}
    assert names(f, "filter") == DEFAULT_POINTS["filter"]


def test_multi_point_disabled_star_keeps_only_the_enabled_plugins():
    cfg = only(config({"plugins": {"multiPoint": {
        "enabled": [{"name": "PrioritySort"}, {"name": "NodeResourcesFit", "weight": 5}, {"name": "DefaultBinder"}],
        "disabled": [{"name": "*"}]}}}))
    f = build(cfg)
    assert names(f, "queueSort") == ["PrioritySort"]
    assert names(f, "preFilter") == names(f, "filter") == names(f, "score") == ["NodeResourcesFit"]
    assert names(f, "postFilter") == []
    assert names(f, "bind") == ["DefaultBinder"]
    assert f.weights == {"NodeResourcesFit": 5}


@pytest.mark.parametrize("plugins, weights", [
    # a default plugin re-configured in multiPoint keeps its place, with the new weight
    ({"multiPoint": {"enabled": [{"name": "ImageLocality", "weight": 7}]}}, {"ImageLocality": 7}),
    ({"multiPoint": {"enabled": [{"name": "TaintToleration", "weight": 1}]}}, {"TaintToleration": 1}),
    # weight 0 is not allowed for a score plugin: it means 1
    ({"multiPoint": {"enabled": [{"name": "TaintToleration", "weight": 0}]}}, {"TaintToleration": 1}),
    # enabled at the score point: that weight wins over multiPoint's
    ({"score": {"enabled": [{"name": "NodeResourcesFit", "weight": 9}]}}, {"NodeResourcesFit": 9}),
    # enabled at the score point without a weight: the default weight stays
    ({"score": {"enabled": [{"name": "PodTopologySpread"}]}}, {"PodTopologySpread": 2}),
])
def test_custom_weights(plugins, weights):
    f = build(only(config({"plugins": plugins})))
    assert f.weights == {**DEFAULT_WEIGHTS, **weights}
    assert names(f, "filter") == DEFAULT_POINTS["filter"]  # the order does not change


def test_a_plugin_enabled_at_a_point_that_multi_point_also_places_goes_first():
    # kube-scheduler's order: overriding plugins, then the rest of multiPoint, then the others.
    f = build(only(config({"plugins": {"filter": {"enabled": [{"name": "NodeResourcesFit"}]}}})))
    assert names(f, "filter") == ["NodeResourcesFit"] + [n for n in DEFAULT_POINTS["filter"] if n != "NodeResourcesFit"]


def test_a_plugin_enabled_only_at_one_point_runs_only_there():
    cfg = only(config({"plugins": {"multiPoint": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]},
                                   "score": {"enabled": [{"name": "NodeResourcesBalancedAllocation", "weight": 4}]}}}))
    f = build(cfg)
    assert names(f, "score")[-1] == "NodeResourcesBalancedAllocation"
    assert f.weights["NodeResourcesBalancedAllocation"] == 4
    assert "NodeResourcesBalancedAllocation" not in names(f, "preScore")


@pytest.mark.parametrize("plugins", [
    {"multiPoint": {"enabled": [{"name": "NoSuchPlugin"}]}},
    {"filter": {"enabled": [{"name": "NoSuchPlugin"}]}},
    {"score": {"enabled": [{"name": "NoSuchPlugin", "weight": 1}]}},
])
def test_an_unknown_plugin_is_an_error(plugins):
    with pytest.raises(ValueError, match="NoSuchPlugin"):
        parse_config(config({"plugins": plugins}))


def test_the_wrong_kind_is_an_error():
    with pytest.raises(ValueError, match="KubeSchedulerConfiguration"):
        parse_config({"apiVersion": API_VERSION, "kind": "KubeletConfiguration"})


# ---- args, percentageOfNodesToScore, profiles ---------------------------------------------------


def node_info(name: str, cpu: str, memory: str) -> NodeInfo:
    alloc = {"cpu": cpu, "memory": memory, "pods": "110"}
    return NodeInfo.of({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                        "spec": {}, "status": {"allocatable": alloc, "capacity": alloc}})


POD = {"metadata": {"name": "p", "namespace": "default", "uid": "p"},
       "spec": {"containers": [{"name": "c", "image": "nginx",
                                "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]}}


@pytest.mark.parametrize("strategy, want", [
    (None, "big"),  # LeastAllocated: the node with the most room left
    ({"type": "LeastAllocated"}, "big"),
    ({"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]},
     "small"),  # bin packing: the fullest node that fits
])
def test_plugin_args_change_the_placement(strategy, want):
    args = [{"name": "NodeResourcesFit", "args": {"scoringStrategy": strategy}}] if strategy else []
    cfg = only(config({"pluginConfig": args}))
    f = build(cfg, [node_info("small", "2", "4Gi"), node_info("big", "16", "32Gi")])
    assert f.schedule(CycleState(), POD).node == want


def test_plugin_args_reach_the_plugin():
    cfg = only(config({"pluginConfig": [{"name": "NodeResourcesFit", "args": {"ignoredResources": ["example.com/foo"]}}]}))
    assert cfg.plugin_args == {"NodeResourcesFit": {"ignoredResources": ["example.com/foo"]}}
    small = node_info("small", "2", "4Gi")
    pod = {**POD, "spec": {"containers": [{"name": "c", "image": "i",
                                            "resources": {"requests": {"example.com/foo": "1"}}}]}}
    f = build(cfg, [small])
    assert f.schedule(CycleState(), pod).node == "small"  # the ignored resource does not block the node
    with pytest.raises(FitError, match="Insufficient example.com/foo"):
        build(ProfileConfig(), [small]).schedule(CycleState(), pod)


@pytest.mark.parametrize("top, profile, want", [
    ({}, {}, None),
    ({"percentageOfNodesToScore": 30}, {}, 30),
    ({"percentageOfNodesToScore": 30}, {"percentageOfNodesToScore": 70}, 70),  # the profile's wins
    ({}, {"percentageOfNodesToScore": 100}, 100),
])
def test_percentage_of_nodes_to_score(top, profile, want):
    cfg = only(config(profile, **top))
    assert cfg.percentage_of_nodes_to_score == want
    assert build(cfg).percentage_of_nodes_to_score == want


def test_two_profiles_with_different_scheduler_names(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        profiles:
        - schedulerName: default-scheduler
        - schedulerName: no-scoring-scheduler
          plugins:
            preScore:
              disabled:
              - name: '*'
            score:
              disabled:
              - name: '*'
        """))
    default, other = load_config(path)
    assert (default.scheduler_name, other.scheduler_name) == ("default-scheduler", "no-scoring-scheduler")
    fd, fo = build(default), build(other)
    assert names(fd, "score") == DEFAULT_POINTS["score"]
    assert names(fo, "score") == names(fo, "preScore") == []
    assert names(fo, "filter") == DEFAULT_POINTS["filter"]
    assert fo.name == "no-scoring-scheduler"


def test_duplicate_scheduler_names_are_an_error():
    with pytest.raises(ValueError, match="duplicate"):
        parse_config(config({"schedulerName": "a"}, {"schedulerName": "a"}))


def test_profiles_do_not_share_plugin_instances():
    a, b = parse_config(config({"schedulerName": "a"}, {"schedulerName": "b"}))
    fa, fb = build(a), build(b)
    assert not {id(p) for p in fa.plugins("filter")} & {id(p) for p in fb.plugins("filter")}


def test_a_pod_placed_on_a_node_sends_the_next_one_elsewhere():
    # The assumed pod counts on its node at once: a second identical pod goes to the other node.
    small, big = node_info("small", "2", "4Gi"), node_info("big", "2", "4Gi")
    f = build(ProfileConfig(), [small, big])
    first = f.schedule(CycleState(), POD).node
    f.handle.snapshot.get(first).add_pod(PodInfo.of({**POD, "metadata": {**POD["metadata"], "uid": "p1"}}))
    assert f.schedule(CycleState(), POD).node != first
