"""Google Gemini's generateContent / streamGenerateContent and embedContent, translated both ways."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from gateways.ai.providers import errors
from gateways.ai.providers.base import JSON, ProviderFailure, Target, UpstreamRequest
from gateways.ai.providers.content import bad_request, image_url, text_of
from gateways.ai.providers.gemini_stream import GeminiStreamTranslator, to_completion

# The OpenAPI subset Gemini accepts in responseSchema and function parameters; other keys are refused.
SCHEMA_KEYS = frozenset(
    {
        "type", "format", "description", "nullable", "enum", "maxItems", "minItems", "properties",
        "required", "items", "anyOf", "title", "minimum", "maximum", "propertyOrdering",
        "maxLength", "minLength", "pattern", "maxProperties", "minProperties", "example", "default",
    }
)  # fmt: skip


def gemini_schema(schema: object) -> object:
    """A JSON schema reduced to Gemini's subset (["string", "null"] becomes nullable string)."""
    if not isinstance(schema, dict):
        return schema
    out: JSON = {}
    for key, value in schema.items():
        if key not in SCHEMA_KEYS:
            continue
        if key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            out["type"] = kinds[0] if kinds else "string"
            if "null" in value:
                out["nullable"] = True
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = gemini_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [gemini_schema(sub) for sub in value]
        else:
            out[key] = value
    return out


def _image(part: JSON) -> JSON:
    url = image_url(part)
    if url.startswith("data:"):
        mime, _, data = url[5:].partition(";base64,")
        return {"inlineData": {"mimeType": mime, "data": data}}
    mime = "image/png" if url.lower().endswith(".png") else "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _user_parts(content: object) -> list[JSON]:
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[JSON] = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            parts.append(_image(part))
        else:
            raise bad_request(f"Content part type {kind!r} is not supported by gemini")
    return parts


def _tool_response(content: object) -> JSON:
    text = text_of(content)
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"content": text}


def convert_messages(messages: list[JSON]) -> tuple[str, list[JSON]]:
    """(system instruction, Gemini contents); tool results become functionResponse parts."""
    system: list[str] = []
    contents: list[JSON] = []
    call_names: dict[str, str] = {}  # tool_call_id → function name (Gemini answers by name)

    def append(role: str, parts: list[JSON]) -> None:
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        elif parts:
            contents.append({"role": role, "parts": parts})

    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content))
        elif role == "user":
            append("user", _user_parts(content))
        elif role == "assistant":
            parts: list[JSON] = [{"text": text_of(content)}] if text_of(content) else []
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                call_names[str(call.get("id"))] = str(function.get("name"))
                arguments = function.get("arguments") or "{}"
                try:
                    args = json.loads(arguments) if isinstance(arguments, str) else arguments
                except ValueError as exc:
                    raise bad_request("Tool call arguments must be a JSON object") from exc
                parts.append({"functionCall": {"name": function.get("name"), "args": args}})
            append("model", parts)
        elif role == "tool":
            name = call_names.get(str(message.get("tool_call_id")), str(message.get("name") or "tool"))
            append("user", [{"functionResponse": {"name": name, "response": _tool_response(content)}}])
        else:
            raise bad_request(f"Message role {role!r} is not supported by gemini")
    return "\n\n".join(part for part in system if part), contents


def _tools(body: JSON) -> list[JSON]:
    declarations = []
    for tool in body.get("tools") or []:
        if tool.get("type", "function") != "function":
            raise bad_request(f"Tool type {tool.get('type')!r} is not supported by gemini")
        function = tool.get("function") or {}
        declaration: JSON = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        # Gemini refuses an OBJECT schema without properties: a function without arguments has none.
        if isinstance(parameters, dict) and parameters.get("properties"):
            declaration["parameters"] = gemini_schema(parameters)
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: object) -> JSON | None:
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        names = [choice["function"]["name"]]
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": names}}
    return None


def generation_config(body: JSON) -> JSON:
    config: JSON = {}
    pairs = (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    )
    for ours, theirs in pairs:
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if response_format["type"] == "json_schema" and schema:
            config["responseSchema"] = gemini_schema(schema)
    return config


def build_payload(body: JSON) -> JSON:
    system, contents = convert_messages(list(body.get("messages") or []))
    payload: JSON = {"contents": contents}
    if system:
        payload["systemInstruction"] = {"parts": [{"text": system}]}
    tools = _tools(body)
    if tools:
        payload["tools"] = tools
        config = _tool_config(body.get("tool_choice"))
        if config:
            payload["toolConfig"] = config
    config = generation_config(body)
    if config:
        payload["generationConfig"] = config
    return payload


def error_from_body(status: int, body: bytes) -> ProviderFailure:
    data = errors.parse_json(body)
    if isinstance(data, list) and data:  # streamGenerateContent without alt=sse answers a JSON array
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return errors.build("gemini", status, None)
    message = str(error.get("message") or "")
    reasons = {d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)}
    if status == 400 and ("API_KEY_INVALID" in reasons or "API key not valid" in message):
        status = 401  # Gemini calls a bad key a 400; clients expect an authentication error
    return errors.build("gemini", status, message, error.get("status"))


class GeminiAdapter:
    name = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    key_pattern = re.compile(r"AIza[0-9A-Za-z_\-]{35}")
    token_ids_input = False  # embedContent takes text only

    def _root(self, target: Target) -> str:
        base = (target.base_url or self.default_base_url).rstrip("/")
        return base if base.endswith(("/v1beta", "/v1")) else f"{base}/v1beta"

    def _model_url(self, target: Target, method: str) -> str:
        model = quote(target.model.removeprefix("models/"), safe="")
        return f"{self._root(target)}/models/{model}:{method}"

    def _headers(self, target: Target) -> dict[str, str]:
        # The key goes in a header, never the query string, so URLs in logs carry no secret.
        return {"Content-Type": "application/json", "x-goog-api-key": target.api_key}

    def chat_request(self, target: Target, body: JSON, *, stream: bool) -> UpstreamRequest:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest(
            "POST", self._model_url(target, method), self._headers(target), build_payload(body)
        )

    def chat_response(self, target: Target, data: JSON) -> JSON:
        return to_completion(target.model, data)

    def stream_translator(self, target: Target) -> GeminiStreamTranslator:
        return GeminiStreamTranslator(target.model)

    def embeddings_request(self, target: Target, body: JSON) -> UpstreamRequest:
        inputs = body.get("input")
        extra: JSON = {}
        if body.get("dimensions"):
            extra["outputDimensionality"] = body["dimensions"]
        if isinstance(inputs, str):
            payload = {"content": {"parts": [{"text": inputs}]}, **extra}
            return UpstreamRequest(
                "POST", self._model_url(target, "embedContent"), self._headers(target), payload
            )
        if not isinstance(inputs, list) or not all(isinstance(item, str) for item in inputs):
            raise bad_request("gemini embeddings take a string or a list of strings")
        model = f"models/{target.model.removeprefix('models/')}"
        requests = [{"model": model, "content": {"parts": [{"text": text}]}, **extra} for text in inputs]
        url = self._model_url(target, "batchEmbedContents")
        return UpstreamRequest("POST", url, self._headers(target), {"requests": requests})

    def embeddings_response(self, target: Target, data: JSON) -> JSON:
        vectors = data.get("embeddings") or ([data["embedding"]] if data.get("embedding") else [])
        items = [
            {"object": "embedding", "index": index, "embedding": list(vector.get("values") or [])}
            for index, vector in enumerate(vectors)
        ]
        usage = {"prompt_tokens": 0, "total_tokens": 0}  # Gemini reports no token count for embeddings
        return {"object": "list", "data": items, "model": target.model, "usage": usage}

    def models_request(self, target: Target) -> UpstreamRequest:
        return UpstreamRequest("GET", f"{self._root(target)}/models", {"x-goog-api-key": target.api_key})

    def error(self, status: int, body: bytes) -> ProviderFailure:
        return error_from_body(status, body)

    def validate_api_key(self, api_key: str) -> bool:
        return bool(self.key_pattern.fullmatch(api_key))
