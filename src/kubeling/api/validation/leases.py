"""coordination.k8s.io/v1 Lease (pkg/apis/coordination/validation)."""

from __future__ import annotations

from kubeling.api.validation.causes import Cause, forbidden, invalid
from kubeling.api.validation.common import Obj, as_dict, is_int, nonnegative


def validate_lease(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if is_int(duration) and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    causes += nonnegative("spec.leaseTransitions", spec.get("leaseTransitions"))
    if spec.get("preferredHolder") and not spec.get("strategy"):
        causes.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return causes
