"""Cron schedules: robfig/cron's ParseStandard errors, which CronJob validation reports."""

import pytest

from kubeling.api.validation.cron import cron_error


@pytest.mark.parametrize(("schedule", "error"), [
    ("*/15 0-6 1,15 jan-jun mon-fri", None),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
    ("@every 1h30m", None),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
])
def test_cron_errors(schedule, error):
    assert cron_error(schedule) == error
