"""Interpreter settings for a serving process: short GIL hand-offs, and no GC walk of the startup heap.

GIL: the batched writers run in threads of the serving process. A thread that holds the GIL in pure
Python keeps it until the switch interval runs out (5 ms by default) even while the event loop thread
waits for it, and that wait lands on a request's latency. 1 ms bounds it; the hand-offs only happen
while a writer is busy (bench/results/ab-switch.md: +p99 at one connection -17% to -32% on three of
four rows, the fourth flat).

GC: a loaded process holds ~130,000 long-lived objects (Django, the apps, the ORM's metadata). A full
collection walks all of them, which measured 20-100 ms here: a pause that lands on whatever requests are
in flight. `gc.freeze()` after startup moves them into a permanent generation the collector never
scans, and a larger first-generation threshold makes the young collections fewer: each request
allocates a few hundred objects, and nearly all die young by reference counting alone. Cycles are
still collected, in larger batches (bench/results/ab-gc.md).
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_SECONDS = 0.001


def tune_for_serving(gen0_threshold: int) -> None:
    """Shorten the GIL switch interval; freeze what startup built and set the young generation's
    threshold (`gen0_threshold` 0: leave the collector as Python sets it)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    if gen0_threshold <= 0:
        return
    gc.collect()  # garbage made while starting must not be frozen with the live heap
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
