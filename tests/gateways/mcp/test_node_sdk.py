"""The official TypeScript MCP SDK 1.x (npm's `latest`), run by node as users run it, sees every upstream."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.gateways.mcp.test_aggregation import EXPECTED_TOOLS

pytestmark = pytest.mark.django_db(transaction=True)

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """node_modules from the committed lock file (npm's registry is reachable here and in CI)."""
    assert shutil.which("node") and shutil.which("npm"), "node 20 and npm are part of this machine"
    if not (NODE_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True, timeout=300
        )
    return NODE_DIR


def test_typescript_sdk_list_tools_sees_every_upstream(node_sdk, gateways, mcp_project):
    url = gateways[1].url(mcp_project.path())
    done = subprocess.run(
        ["node", "list_tools.mjs", url, mcp_project.token, "beta__echo", json.dumps({"text": "ts"})],
        cwd=node_sdk,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["tools"] == EXPECTED_TOOLS  # one listTools(), no cursor followed
    assert seen["nextCursor"] is None
    assert seen["call"] == "beta:ts"
