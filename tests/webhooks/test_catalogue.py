"""The README's event catalogue lists every event type with its example, as webhooks/catalogue.py has it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from webhooks.catalogue import EVENT_TYPES, EXAMPLES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_catalogue_matches_the_code():
    text = README.read_text().split("### Event catalogue", 1)[1].split("\n## ", 1)[0]
    bodies = [json.loads(raw) for raw in re.findall(r"```json\n\s*(\{.*\})\n\s*```", text)]
    assert [b["type"] for b in bodies] == list(EVENT_TYPES)
    for body in bodies:
        assert body["data"] == EXAMPLES[body["type"]]
        assert set(body) == {"type", "timestamp", "data"}
