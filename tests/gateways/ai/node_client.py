"""The official Node `openai` SDK for tests: installed once per checkout into tests/gateways/ai/node/node_modules
(pinned in its package.json and package-lock.json; `npm ci` on a fresh clone), then run per test."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).with_name("node")


def install() -> Path:
    """npm ci when the pinned SDK is missing (a fresh clone or CI); a no-op afterwards."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node and npm are required for the Node SDK tests")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=300,
        )
    return NODE_DIR


def run(script: str, **env: str) -> Any:
    """Run tests/gateways/ai/node/<script> with `env` and parse the JSON it prints."""
    completed = subprocess.run(
        ["node", script],
        cwd=NODE_DIR,
        env={"PATH": _path(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if completed.returncode != 0:
        raise AssertionError(f"node {script} failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")
