"""LiteLLM's proxy, the peer we compare with: its own venv under bench/, a config, N workers, no database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.procs import Managed, Processes, free_port
from bench.stack import BENCH_DIR, REPO, VAR, wait_ready

# 1.103.0 is the version issue 9 measured; pinned so runs compare over time.
VERSION = "1.103.0"
VENV = BENCH_DIR / ".venv-litellm"
MASTER_KEY = "sk-bench-master-key"
MODEL = "bench-model"


def installed() -> bool:
    """The pinned version is in the venv already (the install takes minutes: never twice)."""
    dist = list(VENV.glob(f"lib/python*/site-packages/litellm-{VERSION}.dist-info"))
    return bool(dist) and (VENV / "bin" / "litellm").exists()


def install(log: Path) -> bool:
    """Create the venv and install LiteLLM once; False, with the log kept, when that fails."""
    if installed():
        return True
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        # A venv made from inside another venv is based on the base interpreter, not on .venv.
        for cmd in (
            [sys.executable, "-m", "venv", str(VENV)],
            [str(VENV / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={VERSION}"],
        ):
            if subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, timeout=1500, check=False
            ).returncode:
                return False
    return installed()


def write_config(llm_port: int) -> Path:
    path = VAR / "litellm" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: http://127.0.0.1:{llm_port}/v1
      api_key: sk-bench-upstream
general_settings:
  master_key: {MASTER_KEY}
litellm_settings:
  telemetry: false
  drop_params: true
"""
    )
    return path


def start(procs: Processes, llm_port: int, workers: int) -> tuple[Managed, int]:
    port = free_port()
    config = write_config(llm_port)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # No network here: use the bundled model price map instead of fetching one at start.
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "PYTHONUNBUFFERED": "1"})
    cmd = [
        str(VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
        "--port", str(port), "--num_workers", str(workers),
        # gunicorn with uvicorn workers, as PromptGate runs: LiteLLM's own multi-worker uvicorn mode
        # (1.103.0) respawns dying children forever here.
        "--run_gunicorn",
    ]  # fmt: skip
    managed = procs.start(f"litellm-{workers}w", cmd, env, REPO)
    wait_ready(managed, port, "/health/liveliness", "LiteLLM", port_timeout=120)
    return managed, port
