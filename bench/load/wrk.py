"""wrk as the load generator: a Lua script per target, its --latency distribution parsed for percentiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.load.result import LoadResult, Target

# setup() keeps each thread so done() can read the sums the response() hooks kept per thread.
LUA = r"""
local body_file = io.open("%(body_path)s", "rb")
wrk.method = "%(method)s"
wrk.body = body_file:read("*a")
body_file:close()
%(headers)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
overhead_sum = 0
overhead_n = 0
bad = 0
function response(status, headers, body)
  if status >= 400 then bad = bad + 1 end
  local v = headers["X-PromptGate-Overhead-Ms"] or headers["x-promptgate-overhead-ms"]
  if v then
    overhead_sum = overhead_sum + tonumber(v)
    overhead_n = overhead_n + 1
  end
end
function done(summary, latency, requests)
  local s, n, b = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("overhead_sum"); n = n + t:get("overhead_n"); b = b + t:get("bad")
  end
  io.write(string.format("BENCH overhead_sum=%%f overhead_n=%%d bad=%%d\n", s, n, b))
end
"""

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def ensure_installed() -> bool:
    """apt-get install wrk when it is missing (the bench runs as root); False when that fails."""
    if available():
        return True
    if shutil.which("apt-get") is None:
        return False
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "wrk"]):
        done = subprocess.run(cmd, capture_output=True, timeout=600, check=False)
        if done.returncode != 0 and cmd[1] == "install":
            return False
    return available()


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise ValueError(f"unparsed wrk duration {value!r}")
    return float(match.group(1)) * UNIT_MS[match.group(2)]


def parse(output: str, seconds: float) -> LoadResult:
    result = LoadResult(seconds=seconds, tool="wrk")
    for pct, value in re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", output, re.MULTILINE):
        setattr(result, f"p{pct}_ms", _ms(value))
    match = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    if match:
        result.requests = int(match.group(1))
        result.seconds = _ms(match.group(2) + match.group(3)) / 1000
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match:
        result.rps = float(match.group(1))
    for _kind, count in re.findall(r"(connect|read|write|timeout) (\d+)", output):
        result.errors += int(count)
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        result.errors += int(match.group(1))
    match = re.search(r"BENCH overhead_sum=([\d.]+) overhead_n=(\d+) bad=(\d+)", output)
    if match and int(match.group(2)):
        result.overhead_ms = float(match.group(1)) / int(match.group(2))
    return result


def run(target: Target, connections: int, seconds: float, timeout_s: float = 10.0) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body_path = Path(tmp) / "body"
        body_path.write_bytes(target.body)
        headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers)
        script = Path(tmp) / "script.lua"
        script.write_text(LUA % {"body_path": body_path, "method": target.method, "headers": headers})
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s:.0f}s",
            "--latency",
            "-s",
            str(script),
            target.url,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        return LoadResult(tool="wrk", note=f"wrk failed: {done.stderr.strip()[:200]}")
    result = parse(done.stdout, seconds)
    if result.requests == 0:
        result.note = "no request completed"
    return result
