"""Embeddings on the OpenAI surface: what a request may hold, and vectors in the encoding the client asked.

Upstreams are always asked for floats, whatever the client asked: not every provider can answer base64
(Gemini, most self-hosted servers), and the official Node SDK asks base64 by default and decodes any
string it gets as little-endian float32, so floats sent back to it silently became garbage. The gateway
encodes instead: `encoding_format: "base64"` is answered as base64 of little-endian float32 for every
provider. Token-id input (arrays of integers) goes to providers that take it and is refused, naming
the provider, by those that do not; `dimensions` is passed to every provider that has the option.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

from gateways.ai.errors import invalid_request
from gateways.ai.providers.base import JSON, AdapterError, ProviderAdapter, ProviderFailure

ENCODINGS = ("float", "base64")
INPUT_RULE = "a string, an array of strings, an array of token ids, or an array of token-id arrays"


def _is_ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
    )


def check(body: JSON) -> tuple[str, bool]:
    """(encoding the client wants, whether `input` is token ids); refuses malformed fields with a 400."""
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise invalid_request("`encoding_format` must be 'float' or 'base64'", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1
    ):
        raise invalid_request("`dimensions` must be a positive integer", param="dimensions")
    value = body.get("input")
    if isinstance(value, str) and value:
        return encoding, False
    if isinstance(value, list) and value:
        if all(isinstance(item, str) and item for item in value):
            return encoding, False
        if _is_ids(value) or all(_is_ids(item) for item in value):
            return encoding, True
    raise invalid_request(f"`input` must be {INPUT_RULE}, none of them empty", param="input")


def upstream_body(body: JSON) -> JSON:
    """The request as sent upstream: floats asked for, whatever the client wants back."""
    return {key: value for key, value in body.items() if key != "encoding_format"}


def refuse_token_ids(adapter: ProviderAdapter, label: str) -> None:
    if not getattr(adapter, "token_ids_input", False):
        raise AdapterError(
            ProviderFailure(
                400,
                "invalid_request_error",
                f"{label} does not take token-id input for embeddings: send the text instead",
                "unsupported_input",
            )
        )


def _floats(value: Any) -> list[float]:
    if isinstance(value, str):  # an upstream that answered base64 anyway
        vector = array("f", base64.b64decode(value))
        if sys.byteorder == "big":
            vector.byteswap()
        return vector.tolist()
    return [float(x) for x in value]


def _base64(values: list[float]) -> str:
    vector = array("f", values)
    if sys.byteorder == "big":
        vector.byteswap()
    return base64.b64encode(vector.tobytes()).decode("ascii")


def encode(result: JSON, encoding: str) -> JSON:
    """Every vector of an OpenAI embeddings answer in `encoding` (floats, or base64 float32 LE)."""
    for item in result.get("data") or ():
        vector = item.get("embedding")
        if vector is None:
            continue
        if encoding == "base64":
            item["embedding"] = vector if isinstance(vector, str) else _base64(_floats(vector))
        elif isinstance(vector, str):
            item["embedding"] = _floats(vector)
    return result
