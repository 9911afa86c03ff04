"""CPU of the guardrail engine alone, per request: the default rule set (bench/guardrails.py: pii +
secrets + 10 regex + 500 keywords, input and output) over a chat prompt and an answer of `--size`.

    .venv/bin/python -m bench.guardrails_engine [--size 1024] [--calls 3000]

prints CPU µs per request (time.process_time, best of `--runs` runs): one input scan of the prompt (it holds
an e-mail address and a phone number, so pii redacts) and one output scan of a clean answer.

`--path chat` drives the chat surface's hooks around the engine instead, as the AI gateway calls them
(gateways/guardrails/chat.py): the request's messages scanned and redacted in place, the verdict
recorded in the log row, the answer's choices scanned, and the X-PromptGate-Guardrails header built.

CPU time still moves with a loaded machine (shared caches, hyper-threads). Instruction counts do not:
`bench/guardrails_engine_callgrind.sh [N]` runs this under callgrind with instrumentation switched on
only after start-up (`--start-file`), for 0 and for N calls, and prints instructions per request.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import django
from django.conf import settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--path", choices=["engine", "chat"], default="engine")
    parser.add_argument(
        "--start-file", help="after warming up, wait until this file exists (callgrind_control -i on first)"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
    os.environ.setdefault("DEBUG", "true")

    django.setup()
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from bench import guardrails

    engine = guardrails.engine()
    prompt = guardrails.prompt(args.size)
    answer = ("Sure. " + guardrails.FILLER * (args.size // len(guardrails.FILLER) + 1))[: args.size]

    def request() -> None:
        engine.scan("input", [prompt], messages=1)
        engine.scan("output", [answer], messages=1)

    if args.path == "chat":
        request = _chat_request(engine, prompt, answer)

    request()  # compiles the RE2 DFAs' first states: not a per-request cost
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.common.heap import tune_for_serving

    tune_for_serving(settings.PROMPTGATE_GC_GEN0_THRESHOLD or 0)  # the collector as a serving worker runs it
    if args.start_file:
        print(f"ready {os.getpid()}", flush=True)
        while not os.path.exists(args.start_file):
            time.sleep(0.01)
    if not args.calls:
        return
    runs = []
    for _ in range(args.runs):
        began = time.process_time()
        for _ in range(args.calls):
            request()
        runs.append((time.process_time() - began) / args.calls * 1e6)
    shown = ", ".join(f"{r:.1f}" for r in runs)
    print(
        f"guardrail {args.path}, {args.size} B in + out: {min(runs):.1f} µs CPU per request (runs: {shown})"
    )


def _chat_request(engine: Any, prompt: str, answer: str) -> Callable[[], None]:
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.guardrails import chat
    from gateways.guardrails.verdicts import LOG_KEY, header_value

    def request() -> None:
        greq: Any = SimpleNamespace(log={})
        body = {"model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
        chat.scan_messages(greq, engine, body["messages"])
        message = {"role": "assistant", "content": answer}
        result = {"id": "c", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        chat.chat_output(greq, engine, result)
        if greq.log.get(LOG_KEY):
            header_value(greq.log[LOG_KEY])

    return request


if __name__ == "__main__":
    main()
