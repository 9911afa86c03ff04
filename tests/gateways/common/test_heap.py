"""Serving-process interpreter settings: short GIL hand-offs, a frozen startup heap, rarer young GC."""

from __future__ import annotations

import subprocess
import sys

# In a child interpreter: freezing is process-wide and must not change the test runner's collector.
PROBE = """
import gc, json, sys
from gateways.common.heap import tune_for_serving
before = (gc.get_freeze_count(), gc.get_threshold(), sys.getswitchinterval())
tune_for_serving({threshold})
print(json.dumps([before, [gc.get_freeze_count(), gc.get_threshold(), sys.getswitchinterval()]]))
"""


def _probe(threshold: int) -> tuple[tuple[int, list[int], float], tuple[int, list[int], float]]:
    import json

    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(threshold=threshold)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, after = json.loads(done.stdout)
    return tuple(before), tuple(after)


def test_tuning_freezes_the_heap_and_raises_the_young_threshold():
    (frozen_before, thresholds_before, switch_before), (frozen_after, thresholds_after, switch_after) = (
        _probe(20_000)
    )
    assert frozen_before == 0 and frozen_after > 1000  # the interpreter's own objects at least
    assert thresholds_after == [20_000, *thresholds_before[1:]]
    assert switch_before == 0.005 and switch_after == 0.001


def test_zero_leaves_the_collector_alone():
    before, after = _probe(0)
    assert before[:2] == after[:2] and after[2] == 0.001
