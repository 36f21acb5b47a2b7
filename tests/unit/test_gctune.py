"""The collector settings for processes holding a large cache."""

from __future__ import annotations

import gc

from kubeling import gctune


def test_tune_for_large_heap_raises_thresholds_and_freezes_what_is_alive():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults (an in-process scheduler test may have tuned them)
    try:
        gctune.tune_for_large_heap()
        assert gc.get_threshold() == gctune.THRESHOLDS
        assert gctune.THRESHOLDS[0] > 700
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
