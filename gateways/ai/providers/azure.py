"""Azure OpenAI: OpenAI's wire format at per-deployment URLs, an `api-key` header and an api-version."""

from __future__ import annotations

import re
from urllib.parse import quote

from gateways.ai.providers.base import JSON, Target, UpstreamRequest
from gateways.ai.providers.openai import OpenAIAdapter

DEFAULT_API_VERSION = "2024-10-21"  # the GA version that supports stream_options.include_usage


class AzureOpenAIAdapter(OpenAIAdapter):
    """`model` is the deployment name; `base_url` is the resource, e.g. https://NAME.openai.azure.com."""

    name = "azure"
    responses_native = False  # Azure's Responses API lives at other URLs: translated to chat here
    default_base_url = ""  # per resource: the credential must carry it
    # Classic keys are 32 hex characters; newer ones are longer base62 strings.
    key_pattern = re.compile(r"[A-Za-z0-9]{32,128}")

    def headers(self, target: Target) -> dict[str, str]:
        return {"Content-Type": "application/json", "api-key": target.api_key}

    def _query(self, target: Target) -> str:
        version = str(target.options.get("api_version") or DEFAULT_API_VERSION)
        return f"api-version={quote(version, safe='')}"

    def url(self, target: Target, endpoint: str) -> str:
        deployment = quote(target.model, safe="")
        return f"{self.base(target)}/openai/deployments/{deployment}/{endpoint}?{self._query(target)}"

    def chat_request(self, target: Target, body: JSON, *, stream: bool) -> UpstreamRequest:
        request = super().chat_request(target, body, stream=stream)
        if request.json is not None:
            request.json.pop("model", None)  # the deployment in the URL decides
        return request

    def embeddings_request(self, target: Target, body: JSON) -> UpstreamRequest:
        request = super().embeddings_request(target, body)
        if request.json is not None:
            request.json.pop("model", None)
        return request

    def models_request(self, target: Target) -> UpstreamRequest:
        return UpstreamRequest(
            "GET", f"{self.base(target)}/openai/models?{self._query(target)}", {"api-key": target.api_key}
        )
