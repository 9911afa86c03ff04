"""How much slower ordinary Python runs right after a guardrail scan: the cold-cache cost the scan leaves
behind, which profiles of the server charge to whatever frames run next.

    .venv/bin/python -m bench.guardrails_cache_effect [--without KIND]

Times (best of 5 runs of N calls) the engine's input + output scan of the 1 KB prompt (bench/guardrails.py's
rule set), a fixed Python workload (parse, estimate, dump a chat body; build a dict and strings), and
both back to back: "interference" is what the pair costs beyond its parts.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import django


def best(fn: Callable[[], object], calls: int) -> float:
    out = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        out = min(out, (time.perf_counter() - began) / calls * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--without", default="", help="leave this kind of rule out (pii, secrets, regex, keywords)"
    )
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
    os.environ.setdefault("DEBUG", "true")
    django.setup()
    # Imported here: Django is set up at run time.
    from bench import guardrails
    from gateways.ai import budgets

    engine = guardrails.engine(args.without)
    prompt = guardrails.prompt(1024)
    answer = "Sure. Here is a short summary of the main risks."
    raw = json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
    ).encode()

    def scan() -> None:
        engine.scan("input", [prompt], messages=1)
        engine.scan("output", [answer], messages=1)

    def work() -> None:
        body = json.loads(raw)
        budgets.estimate_tokens(body)
        json.dumps(body)
        table = {f"k{i}": i for i in range(200)}
        sum(table.values())
        [str(i) for i in range(300)]

    def both() -> None:
        scan()
        work()

    both()
    a, b, c = best(scan, args.calls), best(work, args.calls), best(both, args.calls)
    left_out = f" without {args.without}" if args.without else ""
    print(
        f"rules{left_out}: scan {a:.1f} µs, workload {b:.1f} µs, both {c:.1f} µs, interference {c - a - b:+.1f} µs"
    )


if __name__ == "__main__":
    main()
