"""Cron schedules as robfig/cron's ParseStandard reads them (the parser CronJobs use)."""

from __future__ import annotations

import re

_CRON_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
                ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                  "dec")),
                ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+|[-+]?0")


def cron_error(schedule: str) -> str | None:
    """robfig/cron's ParseStandard error for `schedule`, or None when it parses."""
    spec = schedule
    if spec.startswith(("TZ=", "CRON_TZ=")):
        spec = spec[spec.find(" "):].strip() if " " in spec else ""
    if not spec:
        return "empty spec string"
    if spec.startswith("@"):
        if spec in _CRON_DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            duration = spec[len("@every "):]
            if not _GO_DURATION.fullmatch(duration):
                return f'failed to parse duration {spec}: time: invalid duration "{duration}"'
            return None
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, (_, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for expr in [e for e in text.split(",") if e]:
            err = _cron_range(expr, low, high, names)
            if err:
                return err
    return None


def _cron_int(expr: str, names: tuple[str, ...] | None, low: int) -> tuple[int, str | None]:
    if names and expr.lower() in names:
        return names.index(expr.lower()) + low, None
    if not re.fullmatch(r"[+-]?\d+", expr):
        return 0, f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax'
    value = int(expr)
    if value < 0:
        return 0, f"negative number ({value}) not allowed: {expr}"
    return value, None


def _cron_range(expr: str, low: int, high: int, names: tuple[str, ...] | None) -> str | None:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    if low_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start, err = _cron_int(low_high[0], names, low)
        if err:
            return err
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end, err = _cron_int(low_high[1], names, low)
            if err:
                return err
        else:
            return f"too many hyphens: {expr}"
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step, err = _cron_int(range_and_step[1], None, 0)
        if err:
            return err
        if len(low_high) == 1:
            end = high
    else:
        return f"too many slashes: {expr}"
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {expr}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    if step == 0:
        return f"step of range should be a positive number: {expr}"
    return None
