"""AI endpoints for the data plane: validation of what is saved, cached snapshots, variables checked per call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from gateways.ai import templating
from gateways.ai.models import VARIABLE_TYPES, AIEndpoint
from gateways.ai.providers.registry import ADAPTERS
from gateways.common.router import GatewayRequest
from promptgate.errors import ErrorCode, PromptGateError

MAX_VARIABLES = 100
MAX_CHAIN = 10
NANO = Decimal(1_000_000_000)


def max_variable_chars() -> int:
    """Longest value (as prompt text) one variable may carry."""
    return settings.PROMPTGATE_AI_MAX_VARIABLE_CHARS


def max_prompt_chars() -> int:
    """Longest rendered prompt (system + user + history) an endpoint sends."""
    return settings.PROMPTGATE_AI_MAX_PROMPT_CHARS


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: str
    required: bool
    default: Any
    has_default: bool
    description: str


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Immutable snapshot of one AIEndpoint, as the data plane uses it."""

    id: int
    slug: str
    description: str
    chain: tuple[str, ...]  # model references for routing.resolve (provider:model, template, alias)
    system_prompt: str
    user_prompt: str
    variables: tuple[Variable, ...]
    output_schema: Mapping[str, Any] | None
    parameters: Mapping[str, Any]
    stream_allowed: bool
    sessions_enabled: bool
    history_limit: int
    ttl_seconds: int
    mcp_tool: bool
    rate_limit_per_minute: int | None
    daily_budget_nanos: int | None
    enabled: bool


# --- validation of a saved endpoint ------------------------------------------------------------------
def chain_reference(step: Any) -> str:
    """One chain step as a routing reference; ValueError when it is malformed."""
    if not isinstance(step, dict):
        raise ValueError("each step must be an object")
    keys = set(step)
    if keys == {"provider", "model"} and all(isinstance(step[k], str) and step[k] for k in keys):
        return f"{step['provider']}:{step['model']}"
    for kind in ("template", "alias"):
        if keys == {kind} and isinstance(step[kind], str) and step[kind]:
            return step[kind]
    raise ValueError('a step is {"provider", "model"}, {"template"} or {"alias"}')


def _chain_errors(chain: Any) -> list[str]:
    if not isinstance(chain, list) or not chain:
        return ["At least one step is required."]
    if len(chain) > MAX_CHAIN:
        return [f"At most {MAX_CHAIN} steps."]

    errors = []
    for index, step in enumerate(chain):
        try:
            chain_reference(step)
        except ValueError as exc:
            errors.append(f"Step {index + 1}: {exc}.")
            continue
        if "provider" in step and step["provider"] not in ADAPTERS:
            errors.append(f"Step {index + 1}: unknown provider {step['provider']!r}.")
    return errors


def _variable_errors(variables: Any) -> list[str]:
    if not isinstance(variables, list):
        return ["Must be a list."]
    if len(variables) > MAX_VARIABLES:
        return [f"At most {MAX_VARIABLES} variables."]
    errors, seen = [], set()
    allowed = {"name", "type", "required", "default", "description"}
    for index, var in enumerate(variables):
        where = f"Variable {index + 1}"
        if not isinstance(var, dict):
            errors.append(f"{where}: must be an object.")
            continue
        unknown = sorted(set(var) - allowed)
        if unknown:
            errors.append(f"{where}: unknown keys {', '.join(unknown)}.")
        name = var.get("name")
        if not isinstance(name, str) or not templating.VARIABLE_NAME.match(name):
            errors.append(f"{where}: name must match {templating.VARIABLE_NAME.pattern}.")
        elif name in seen:
            errors.append(f"{where}: {name} is declared twice.")
        else:
            seen.add(name)
        kind = var.get("type", "string")
        if kind not in VARIABLE_TYPES:
            errors.append(f"{where}: type must be one of {', '.join(VARIABLE_TYPES)}.")
        elif "default" in var and var["default"] is not None and type_error(kind, var["default"]):
            errors.append(f"{where}: default is not of type {kind}.")
        if not isinstance(var.get("required", True), bool):
            errors.append(f"{where}: required must be true or false.")
        if not isinstance(var.get("description", ""), str):
            errors.append(f"{where}: description must be a string.")
    return errors


def _schema_errors(schema: Any) -> list[str]:
    if schema is None:
        return []
    if not isinstance(schema, dict):
        return ["Must be a JSON Schema object."]
    import jsonschema  # local: ~100 ms to import, needed only when a schema is used

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"Not a valid JSON Schema: {exc.message}"]
    return []


def validate_endpoint(endpoint: Any) -> None:
    """Model clean(): chain, variables, schema, and placeholders naming declared variables only."""
    errors: dict[str, list[str]] = {}
    for field, found in (
        ("chain", _chain_errors(endpoint.chain)),
        ("variables", _variable_errors(endpoint.variables)),
        ("output_schema", _schema_errors(endpoint.output_schema)),
    ):
        if found:
            errors[field] = found
    if not isinstance(endpoint.parameters, dict):
        errors["parameters"] = ["Must be an object."]
    elif {"messages", "model", "stream"} & set(endpoint.parameters):
        errors["parameters"] = ["messages, model and stream are set by the endpoint."]
    if "variables" not in errors:
        declared = {v["name"] for v in endpoint.variables}
        for field in ("system_prompt", "user_prompt"):
            undeclared = sorted(templating.placeholders(getattr(endpoint, field)) - declared)
            if undeclared:
                errors[field] = [f"Undeclared variables: {', '.join(undeclared)}."]
    if errors:
        raise ValidationError(errors)


# --- snapshots ---------------------------------------------------------------------------------------
def snapshot(row: Any) -> EndpointConfig:
    variables = tuple(
        Variable(
            name=v["name"],
            type=v.get("type", "string"),
            required=bool(v.get("required", True)),
            default=v.get("default"),
            has_default=v.get("default") is not None,
            description=v.get("description", ""),
        )
        for v in row.variables or ()
    )
    chain = []
    for step in row.chain or ():
        try:
            chain.append(chain_reference(step))
        except ValueError:
            continue  # validated on save; a hand-edited row loses the bad step, not the endpoint
    return EndpointConfig(
        id=row.id,
        slug=row.slug,
        description=row.description,
        chain=tuple(chain),
        system_prompt=row.system_prompt,
        user_prompt=row.user_prompt,
        variables=variables,
        output_schema=row.output_schema,
        parameters=dict(row.parameters or {}),
        stream_allowed=row.stream_allowed,
        sessions_enabled=row.sessions_enabled,
        history_limit=row.session_history_limit,
        ttl_seconds=row.session_ttl_seconds,
        mcp_tool=row.mcp_tool,
        rate_limit_per_minute=row.rate_limit_per_minute,
        daily_budget_nanos=None if row.daily_budget is None else int(row.daily_budget * NANO),
        enabled=row.enabled,
    )


def load_endpoints(project_id: int) -> dict[str, EndpointConfig]:
    return {row.slug: snapshot(row) for row in AIEndpoint.objects.filter(project_id=project_id)}


async def endpoints_of(greq: GatewayRequest) -> dict[str, EndpointConfig]:
    project_id = greq.project.id
    return await greq.runtime.config.get(("ai-endpoints", project_id), lambda: load_endpoints(project_id))


async def endpoint_for(greq: GatewayRequest, slug: str) -> EndpointConfig:
    endpoint = (await endpoints_of(greq)).get(slug)
    if endpoint is None or not endpoint.enabled:
        raise PromptGateError(
            f"No AI endpoint {slug!r} in this project", code=ErrorCode.NOT_FOUND, status=404
        )
    return endpoint


# --- variables of a call -----------------------------------------------------------------------------
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def type_error(kind: str, value: Any) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return True  # JSON true is not a number, though Python's bool is an int
    return not isinstance(value, _PY_TYPES[kind])


def check_variables(endpoint: EndpointConfig, given: Any) -> dict[str, Any]:
    """The values to render, defaults filled in; 400 validation_error listing every problem."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise PromptGateError(
            "variables must be an object",
            code=ErrorCode.VALIDATION_ERROR,
            fields={"variables": ["Must be an object."]},
        )
    declared = {v.name: v for v in endpoint.variables}
    fields: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    limit = max_variable_chars()
    for name in given:
        if name not in declared:
            fields[f"variables.{name}"[:200]] = ["Unknown variable."]
    for var in endpoint.variables:
        if var.name not in given or given[var.name] is None:
            if var.has_default:
                values[var.name] = var.default
            elif var.required:
                fields[f"variables.{var.name}"] = ["This variable is required."]
            else:
                values[var.name] = ""
            continue
        value = given[var.name]
        if type_error(var.type, value):
            fields[f"variables.{var.name}"] = [f"Expected {var.type}."]
        elif len(templating.as_text(value)) > limit:
            fields[f"variables.{var.name}"] = [f"Longer than {limit} characters."]
        else:
            values[var.name] = value
    if fields:
        raise PromptGateError("Invalid variables", code=ErrorCode.VALIDATION_ERROR, fields=fields)
    return values


def input_schema(endpoint: EndpointConfig) -> dict[str, Any]:
    """JSON Schema of the variables (the MCP bridge's tool inputSchema)."""
    properties: dict[str, Any] = {}
    for var in endpoint.variables:
        prop: dict[str, Any] = {"type": var.type}
        if var.description:
            prop["description"] = var.description
        if var.has_default:
            prop["default"] = var.default
        properties[var.name] = prop
    required = [v.name for v in endpoint.variables if v.required and not v.has_default]
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def list_endpoints(project_id: int) -> list[dict[str, Any]]:
    """Introspection: the project's AI endpoints (no prompts, no chain: those stay private)."""

    return [
        {
            "kind": "ai",
            "slug": row.slug,
            "path": f"ai/{row.slug}",
            "methods": ["POST"],
            "enabled": row.enabled,
            "mcp_tool": row.mcp_tool,
        }
        for row in AIEndpoint.objects.filter(project_id=project_id).order_by("slug")
    ]
