"""`json_schema`: the output must be JSON validating against a schema (the AI endpoints' own check,
gateways.ai.structured.check, reused). On input it judges each text the same way."""

from __future__ import annotations

from typing import Any

from gateways.ai.structured import check
from gateways.guardrails.detectors.base import ConfigError, Payload, PayloadDetector, check_keys


def validate(config: Any) -> dict[str, Any]:
    import jsonschema  # local: ~100 ms to import, needed only when a schema is used

    config = check_keys(config, {"schema"})
    schema = config.get("schema")
    if not isinstance(schema, dict):
        raise ConfigError("schema must be a JSON Schema object")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"invalid JSON Schema: {exc.message}") from None
    return {"schema": schema}


class JsonSchemaDetector(PayloadDetector):
    def __init__(self, config: dict[str, Any]) -> None:
        self.schema = config["schema"]

    def count(self, payload: Payload) -> int:
        text = "".join(payload.texts)
        return 0 if check(text, self.schema).ok else 1


def build(config: dict[str, Any]) -> JsonSchemaDetector:
    return JsonSchemaDetector(config)
