"""Validation of response bodies against the official ElevenLabs OpenAPI document."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = (
    Path(__file__).resolve().parents[3]
    / "shared/reference/elevenlabs/api.elevenlabs.io-via-tryAGI/src/libs/ElevenLabs/openapi.json"
)
SPEC_URI = "urn:elevenlabs:openapi"


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


@cache
def _registry() -> Registry:
    return Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012)
    )


def response_schema(method: str, path: str, status: str = "200") -> dict[str, Any]:
    operation = spec()["paths"][path][method.lower()]
    content = operation["responses"][status]["content"]["application/json"]
    return _absolutise(content["schema"])


def _absolutise(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (SPEC_URI + v if k == "$ref" and v.startswith("#") else _absolutise(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolutise(v) for v in node]
    return node


def validate_response(method: str, path: str, body: Any, status: str = "200") -> list[str]:
    """Every violation of the spec's schema for this operation's response, as readable strings."""
    validator = Draft202012Validator(response_schema(method, path, status), registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
