"""ControllerExpectations: counts lowered by observations, expiry on the injected clock, and
deletions tracked by pod key."""

import pytest

from kubeling.client.clock import FakeClock
from kubeling.controllers.expectations import EXPIRATION, ControllerExpectations, UIDTrackingExpectations

KEY = "default/rs"


@pytest.mark.parametrize(("adds", "observed", "satisfied"), [
    (0, 0, True),
    (3, 0, False),
    (3, 2, False),
    (3, 3, True),
    (3, 4, True),  # an extra observation (someone else's pod) does not un-satisfy
])
def test_creations_satisfied_once_all_observed(adds, observed, satisfied):
    exp = ControllerExpectations(FakeClock())
    exp.expect_creations(KEY, adds)
    for _ in range(observed):
        exp.creation_observed(KEY)
    assert exp.satisfied(KEY) is satisfied


def test_no_record_is_satisfied_and_observations_without_record_are_ignored():
    exp = ControllerExpectations(FakeClock())
    exp.creation_observed(KEY)
    exp.deletion_observed(KEY)
    assert exp.get(KEY) is None
    assert exp.satisfied(KEY)


def test_expectations_expire_after_five_minutes():
    clock = FakeClock()
    exp = ControllerExpectations(clock)
    exp.expect_creations(KEY, 2)
    clock.advance(EXPIRATION)
    assert not exp.satisfied(KEY)  # exactly at the timeout: not yet expired
    clock.advance(1)
    assert exp.satisfied(KEY)


def test_raise_and_lower_keep_timestamp():
    clock = FakeClock()
    exp = ControllerExpectations(clock)
    exp.set(KEY, 1, 1)
    clock.advance(100)
    exp.raise_expectations(KEY, 2, 0)
    exp.lower_expectations(KEY, 1, 1)
    got = exp.get(KEY)
    assert (got.add, got.delete) == (2, 0)
    clock.advance(EXPIRATION - 99)  # expiry counts from set(), not from the raise
    assert exp.satisfied(KEY)


def test_delete_forgets():
    exp = UIDTrackingExpectations(FakeClock())
    exp.expect_deletions(KEY, ["default/a"])
    exp.delete(KEY)
    assert exp.get(KEY) is None and exp.get_deleting(KEY) == set()
    assert exp.satisfied(KEY)


def test_deletions_count_only_for_expected_pods_and_only_once():
    exp = UIDTrackingExpectations(FakeClock())
    exp.expect_deletions(KEY, ["default/a", "default/b"])
    exp.deletion_observed(KEY, "default/other")  # not one we deleted
    exp.deletion_observed(KEY, "default/a")
    exp.deletion_observed(KEY, "default/a")  # the same deletion seen twice (update, then delete)
    assert not exp.satisfied(KEY)
    assert exp.get(KEY).delete == 1 and exp.get_deleting(KEY) == {"default/b"}
    exp.deletion_observed(KEY, "default/b")
    assert exp.satisfied(KEY)


def test_new_deletions_replace_old_ones():
    exp = UIDTrackingExpectations(FakeClock())
    exp.expect_deletions(KEY, ["default/a"])
    exp.expect_deletions(KEY, ["default/b", "default/c"])
    assert exp.get_deleting(KEY) == {"default/b", "default/c"}
    assert exp.get(KEY).delete == 2
