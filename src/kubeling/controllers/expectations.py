"""ControllerExpectations: what a controller is waiting to see after its own writes.

A controller that creates 10 pods must not create 10 more because its informer has not yet
delivered the first ten. Before writing it records how many adds/deletes it expects for the
owner's key; pod events lower the counts; the owner is synced again only once they reach
zero, or after EXPIRATION seconds (a lost watch event must not wedge it forever).
As in Kubernetes (pkg/controller/controller_utils.go), deletions are tracked by pod key so
that a deletion the controller did not ask for is not mistaken for one it did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from kubeling.client.clock import REAL, Clock

log = logging.getLogger("kubeling.expectations")

EXPIRATION = 300.0  # ExpectationsTimeout: 5 minutes


@dataclass
class Expectation:
    add: int
    delete: int
    timestamp: float  # clock.monotonic() when set

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    def __init__(self, clock: Clock = REAL, timeout: float = EXPIRATION):
        self.clock = clock
        self.timeout = timeout
        self._store: dict[str, Expectation] = {}

    def get(self, key: str) -> Expectation | None:
        return self._store.get(key)

    def satisfied(self, key: str) -> bool:
        """True when the owner may be synced: nothing expected, all seen, or expired.
        An owner without a record (new, or deleted expectations) is always satisfied."""
        exp = self._store.get(key)
        if exp is None or exp.fulfilled():
            return True
        if self.clock.monotonic() - exp.timestamp > self.timeout:
            log.debug("expectations for %s expired (add=%d del=%d)", key, exp.add, exp.delete)
            return True
        return False

    def set(self, key: str, add: int, delete: int) -> None:
        self._store[key] = Expectation(add, delete, self.clock.monotonic())

    def expect_creations(self, key: str, adds: int) -> None:
        self.set(key, adds, 0)

    def expect_deletions(self, key: str, dels: int) -> None:
        self.set(key, 0, dels)

    def raise_expectations(self, key: str, add: int, delete: int) -> None:
        exp = self._store.get(key)
        if exp is not None:
            exp.add += add
            exp.delete += delete

    def lower_expectations(self, key: str, add: int, delete: int) -> None:
        exp = self._store.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, 0, 1)

    def delete(self, key: str) -> None:
        self._store.pop(key, None)


class UIDTrackingExpectations(ControllerExpectations):
    """Expectations whose deletions are the keys of the pods being deleted: a deletion counts
    only once, and only for a pod the controller itself chose."""

    def __init__(self, clock: Clock = REAL, timeout: float = EXPIRATION):
        super().__init__(clock, timeout)
        self._deleting: dict[str, set[str]] = {}

    def get_deleting(self, key: str) -> set[str]:
        return set(self._deleting.get(key, ()))

    def expect_deletions(self, key: str, dels: Iterable[str]) -> None:  # type: ignore[override]
        keys = set(dels)
        if self._deleting.get(key):
            log.error("clobbering existing delete keys for %s: %s", key, sorted(self._deleting[key]))
        self._deleting[key] = keys
        super().expect_deletions(key, len(keys))

    def deletion_observed(self, key: str, pod_key: str = "") -> None:  # type: ignore[override]
        keys = self._deleting.get(key)
        if keys is not None and pod_key in keys:
            keys.discard(pod_key)
            super().deletion_observed(key)

    def delete(self, key: str) -> None:
        super().delete(key)
        self._deleting.pop(key, None)
