"""The OpenAPI document the docs page (`/`, spec at `/docs.json`) shows, told the truth.

The endpoints validate their own input (to answer 422 with field errors and 413 for oversized
batches, which BentoML's validation cannot), so BentoML describes every request body as "any
object" and every route as POST. `describe` rewrites the generated document from the pydantic
models the endpoints really validate: JSON request bodies, and GET routes with their query
parameters. `OpenAPIDocs` applies it to the `/docs.json` response.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from serving.schemas import (
    BatchRequest,
    CategorizeRequest,
    ExportQuery,
    FeedbackRequest,
    ResolveRequest,
    ReviewQueueQuery,
    SpendQuery,
    TransactionQuery,
)

DOCS_PATH = "/docs.json"
JSON_BODIES: Mapping[str, type[BaseModel]] = {
    "/categorize": CategorizeRequest,
    "/categorize_batch": BatchRequest,
    "/feedback": FeedbackRequest,
    "/review/{decision_id}/resolve": ResolveRequest,
}
GET_QUERIES: Mapping[str, type[BaseModel]] = {
    "/review/queue": ReviewQueueQuery,
    "/transactions": TransactionQuery,
    "/transactions/export.csv": ExportQuery,
    "/reports/spend": SpendQuery,
}
_REF_PREFIX = "#/components/schemas/"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its $defs moved into `components`."""
    schema = model.model_json_schema(ref_template=_REF_PREFIX + "{model}")
    components.update(schema.pop("$defs", {}))
    return schema


def describe(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of BentoML's OpenAPI document with the real request models and methods."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    paths = doc.get("paths", {})
    for path, model in JSON_BODIES.items():
        operation = paths.get(path, {}).get("post")
        if operation is None:
            continue
        schema = _schema(model, components)
        components[model.__name__] = schema
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF_PREFIX + model.__name__}}},
        }
    for path, model in GET_QUERIES.items():
        item = paths.get(path)
        if item is None or "post" not in item:
            continue
        operation = item.pop("post")
        operation.pop("requestBody", None)
        schema = _schema(model, components)
        required = set(schema.get("required", []))
        operation["parameters"] = [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
        item["get"] = operation
    return doc


Scope = Any
Receive = Any
Send = Any


class OpenAPIDocs:
    """ASGI middleware: serve `describe(...)` of the generated document at /docs.json."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != DOCS_PATH:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200:
            body = json.dumps(describe(json.loads(body))).encode()
        headers = [
            (name, value) for name, value in start.get("headers", []) if name != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
