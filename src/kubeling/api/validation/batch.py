"""batch/v1: Job and CronJob (pkg/apis/batch/validation)."""

from __future__ import annotations

import copy

from kubeling.api.validation.causes import (
    Cause,
    GoLiteral,
    go_label_selector,
    go_string_map,
    invalid,
    not_supported,
    required,
)
from kubeling.api.validation.common import Obj, as_dict, as_str, immutable, nonnegative, one_of
from kubeling.api.validation.cron import cron_error
from kubeling.api.validation.labels import as_selector, selector_matches_template, validate_label_selector
from kubeling.api.validation.pods import validate_pod_template

JOB_IMMUTABLE_FIELDS = ("completions", "selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex")
# What a suspended Job that never started may still change in its pod template.
SUSPENDED_JOB_MUTABLE = {"spec": ("nodeSelector", "tolerations", "schedulingGates", "affinity"),
                         "metadata": ("labels", "annotations")}
CRONJOB_NAME_MAX = 52  # leaves room for the 11-character suffix of the Jobs it creates


def validate_job(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = _generated_selector(obj) + _job_spec(spec, "spec")
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        causes.append(required("spec.selector"))
    else:
        causes += validate_label_selector("spec.selector", selector)
    causes += selector_matches_template(spec, "spec", skip_empty=False)
    if old is None:
        return causes
    old_spec = as_dict(old.get("spec"))
    for key in JOB_IMMUTABLE_FIELDS:
        shown = go_label_selector(spec.get(key)) if key == "selector" else None
        causes += immutable(f"spec.{key}", spec.get(key), old_spec.get(key), shown)
    causes += _job_template_update(spec, old_spec)
    return causes


def validate_cronjob(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = _schedule(spec, old)
    causes += nonnegative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"))
    if spec.get("timeZone") == "":
        causes.append(invalid("spec.timeZone", "", "timeZone must be nil or non-empty string"))
    causes += one_of(spec.get("concurrencyPolicy"), ("Allow", "Forbid", "Replace"), "spec.concurrencyPolicy")
    job_spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    causes += _job_spec(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        causes.append(invalid("spec.jobTemplate.spec.selector", go_label_selector(job_spec["selector"]),
                              "`selector` will be auto-generated"))
    if job_spec.get("manualSelector") is True:
        causes.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes += nonnegative(f"spec.{key}", spec.get(key))
    name = as_str(as_dict(obj.get("metadata")).get("name"))
    if old is None and len(name) > CRONJOB_NAME_MAX:
        causes.append(invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} characters"))
    return causes


def _job_spec(spec: Obj, path: str) -> list[Cause]:
    """validateJobSpec: everything but the selector."""
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        causes += nonnegative(f"{path}.{key}", spec.get(key))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        causes.append(not_supported(f"{path}.completionMode", mode, ("NonIndexed", "Indexed")))
    if mode == "Indexed" and spec.get("completions") is None:
        causes.append(required(f"{path}.completions", "when completion mode is Indexed"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        allowed = ("Failed",) if spec.get("podFailurePolicy") is not None else ("Failed", "TerminatingOrFailed")
        if replacement not in allowed:
            causes.append(not_supported(f"{path}.podReplacementPolicy", replacement, allowed))
    template = as_dict(spec.get("template"))
    causes += validate_pod_template(template, f"{path}.template")
    return causes + _job_restart_policy(spec, as_dict(template.get("spec")).get("restartPolicy"), path)


def _job_restart_policy(spec: Obj, policy: object, path: str) -> list[Cause]:
    rpath = f"{path}.template.spec.restartPolicy"
    if policy in (None, "", "Always"):
        return [required(rpath, 'valid values: "OnFailure", "Never"')]
    if policy not in ("OnFailure", "Never"):
        return [not_supported(rpath, policy, ("OnFailure", "Never"))]
    if spec.get("podFailurePolicy") is not None and policy != "Never":
        return [invalid(rpath, policy, 'only "Never" is supported when podFailurePolicy is specified')]
    return []


def _generated_selector(obj: Obj) -> list[Cause]:
    """validateGeneratedSelector, when the selector was generated (the uid is known by then)."""
    spec = as_dict(obj.get("spec"))
    metadata = as_dict(obj.get("metadata"))
    uid, name = as_str(metadata.get("uid")), as_str(metadata.get("name"))
    if spec.get("manualSelector") is True or not isinstance(spec.get("selector"), dict) or not uid:
        return []
    labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
    causes: list[Cause] = []
    expected = {"controller-uid": uid, "job-name": name, "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name}
    for key, value in expected.items():
        lpath = f"spec.template.metadata.labels[{key}]"
        if key not in labels:
            causes.append(required(lpath))
        elif labels[key] != value:
            causes.append(invalid(lpath, GoLiteral(go_string_map(labels)), f"must be '{value}'"))
    selector = as_selector(spec["selector"])
    if selector is not None and not selector.matches(expected):
        causes.append(invalid("spec.selector", go_label_selector(spec["selector"]), "`selector` not auto-generated"))
    return causes


def _job_template_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    new_template, old_template = as_dict(spec.get("template")), copy.deepcopy(as_dict(old_spec.get("template")))
    if spec.get("suspend") is True:
        for part, keys in SUSPENDED_JOB_MUTABLE.items():
            new_part, old_part = as_dict(new_template.get(part)), old_template.setdefault(part, {})
            for key in keys:
                if key in new_part:
                    old_part[key] = new_part[key]
                else:
                    old_part.pop(key, None)
    return immutable("spec.template", new_template, old_template, GoLiteral("core.PodTemplateSpec{...}"))


def _schedule(spec: Obj, old: Obj | None) -> list[Cause]:
    schedule = as_str(spec.get("schedule"))
    if not schedule:
        return [required("spec.schedule")]
    causes: list[Cause] = []
    err = cron_error(schedule)
    if err:
        causes.append(invalid("spec.schedule", schedule, err))
    # A TZ= prefix is refused, unless the old schedule had one already.
    tz_allowed = old is not None and "TZ" in as_str(as_dict(old.get("spec")).get("schedule"))
    if tz_allowed and "TZ" in schedule and spec.get("timeZone") is not None:
        causes.append(invalid("spec.schedule", schedule,
                              "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    elif not tz_allowed and "TZ" in schedule:
        causes.append(invalid("spec.schedule", schedule,
                              "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    return causes
