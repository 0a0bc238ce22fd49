"""The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`.

Generated, not written: the schemas are the JSON Schemas of the request model
(`semsearch.search.query`) and the response models (`semsearch.web.models`), the models
the server validates and answers with. apispec assembles them into the document; what this
module adds is what no model knows: the operations, their statuses and headers. The request
model is made for the served app's settings when the document is asked for, so the limits
(longest query, largest k, body size) are those this server enforces.
"""

from __future__ import annotations

import copy
from importlib import metadata
from typing import Any

from apispec import APISpec
from flask import Flask, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from semsearch.index.ingest.limits import FIELD_LIMITS
from semsearch.index.ingest.pushed import MAX_ID_CHARS, MAX_META_CHARS
from semsearch.index.ingest.readers import FIELD_ALIASES, STRING_FIELDS
from semsearch.search.query import SEARCH_PARAMS, Limits, query_model
from semsearch.search.requests import CiteRequest, SuggestRequest, similar_request_model
from semsearch.settings import default_setting
from semsearch.web.aliases import AliasesResponse, AliasRequest
from semsearch.web.auth import REALM
from semsearch.web.collections import CollectionsResponse, FusedSearchResponse, openapi_paths
from semsearch.web.models import RESPONSE_MODELS
from semsearch.web.served import served_index

#: The endpoint name; `init_openapi` does nothing when the app already has it.
ENDPOINT = "openapi"
PATH = "/api/openapi.json"
OPENAPI_VERSION = "3.1.0"
#: The app's own default (create_app); the view passes the configured value.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_MAX_WRITE_BYTES = int(default_setting("max_write_bytes"))
_REF_TEMPLATE = "#/components/schemas/{model}"
#: The collection and alias routes' models (`semsearch.web.collections`, `web.aliases`).
COLLECTION_MODELS: tuple[type[BaseModel], ...] = (
    CollectionsResponse,
    FusedSearchResponse,
    AliasesResponse,
    AliasRequest,
)

#: Error responses: component name, status, description.
ERRORS = (
    ("BadRequest", 400, "A parameter is missing or invalid; `error` says which and why."),
    ("Unauthorized", 401, "No valid `Authorization: Bearer <key>`."),
    ("Forbidden", 403, "The key is valid but does not have the scope this needs."),
    ("AdminOff", 404, "The admin API is off: the server has no SEMSEARCH_ADMIN_KEY."),
    ("NotFound", 404, "No article with this id in the served index."),
    (
        "PayloadTooLarge",
        413,
        "The request body is over the size limit (or, for a write, has too many items).",
    ),
    ("UnsupportedMediaType", 415, "A write's Content-Type is not one the endpoint reads."),
    (
        "TooManyRequests",
        429,
        "Over the rate limit (RATE_LIMIT per client, KEY_RATE_LIMIT per key, when configured).",
    ),
    ("InternalError", 500, "Unexpected; the details are in the server log, never here."),
    (
        "Unavailable",
        503,
        "No index is loaded (or a reload failed; see /readyz and the log), or the search "
        "ran past its time budget (search_timeout_ms).",
    ),
    ("InsufficientStorage", 507, "The index's disk is full: nothing of the request was written."),
)
_STATUS = {name: status for name, status, _ in ERRORS}


def _json_response(description: str, schema: str | dict[str, Any]) -> dict[str, Any]:
    """A JSON response with the request id header; `schema` is a component name or a schema."""
    return {
        "description": description,
        "headers": {"X-Request-ID": "RequestId"},
        "content": {"application/json": {"schema": schema}},
    }


def _errors(*names: str) -> dict[str, str]:
    return {str(_STATUS[name]): name for name in names}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A body member's schema as a query parameter's: a query string has no null."""
    alternatives = schema.get("anyOf")
    if alternatives:
        (kept,) = [item for item in alternatives if item != {"type": "null"}]
        schema = {**{key: value for key, value in schema.items() if key != "anyOf"}, **kept}
    if schema.get("default", "") is None:
        schema = {key: value for key, value in schema.items() if key != "default"}
    return schema


def _parameters(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The query-string parameters of GET /api/search: the request model's members."""
    parameters = {}
    for name, member in request["properties"].items():
        schema = {
            key: value for key, value in member.items() if key not in ("title", "description")
        }
        parameters[name] = {
            "required": name in request.get("required", ()),
            "schema": _without_null(schema),
            "description": member["description"],
        }
    return parameters


def _model_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The query-string parameters a request model validates, from its JSON Schema."""
    schema = model.model_json_schema()
    return [
        {"name": name, "in": "query", **parameter}
        for name, parameter in _parameters(schema).items()
    ]


def _search_operation(method: str, max_body_bytes: int) -> dict[str, Any]:
    unknown = (
        "An empty value is the same as leaving the parameter out (q excepted). Any other "
        "parameter is refused with 400 (a misspelt one would otherwise be ignored)."
    )
    operation: dict[str, Any] = {
        "operationId": f"search{method.title()}",
        "tags": ["search"],
        "responses": {
            "200": _json_response(
                "The results, best first (possibly none: see no_match_reason).", "SearchResponse"
            ),
            **_errors("BadRequest"),
            **(_errors("PayloadTooLarge") if method == "post" else {}),
            **_errors("TooManyRequests", "InternalError", "Unavailable"),
        },
    }
    # format=csv: the same results as a CSV download (the reader's export).
    operation["responses"]["200"]["content"]["text/csv"] = {
        "schema": {"type": "string", "description": "RFC 4180 CSV, a header row first."}
    }
    # format=atom or rss: the newest strong matches as a feed (semsearch.web.feeds).
    for media, name in (("application/atom+xml", "Atom 1.0"), ("application/rss+xml", "RSS 2.0")):
        operation["responses"]["200"]["content"][media] = {
            "schema": {
                "type": "string",
                "description": f"With format={name.split()[0].lower()}: "
                f"an {name} feed of the newest strong matches, one entry per article.",
            }
        }
    operation["responses"]["200"]["headers"]["Content-Disposition"] = {
        "description": 'With format=csv: `attachment; filename="search-<query>.csv"`.',
        "required": False,
        "schema": {"type": "string"},
    }
    if method == "get":
        operation["summary"] = "Search, parameters in the query string"
        operation["description"] = unknown
        operation["parameters"] = list(SEARCH_PARAMS)
    else:
        operation["summary"] = "Search, parameters in a JSON object"
        operation["description"] = (
            f"The same parameters as GET; null is the same as leaving one out. {unknown} "
            f"A body over {max_body_bytes} bytes is refused with 413. The body is read as "
            "JSON whatever its Content-Type."
        )
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": "SearchRequest"}},
        }
    return operation


def _operation(operation_id: str, tag: str, summary: str, **rest: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "tags": [tag], "summary": summary, **rest}


def _paths(max_body_bytes: int, max_write_bytes: int, limits: Limits) -> dict[str, dict[str, Any]]:
    return {
        "/api/search": {
            "get": _search_operation("get", max_body_bytes),
            "post": _search_operation("post", max_body_bytes),
        },
        "/api/articles": {"post": _write_operation(max_write_bytes)},
        "/api/articles/delete": {"post": _bulk_delete_operation(max_write_bytes)},
        "/api/articles/{article_id}": {
            "delete": _delete_operation(),
            "get": _operation(
                "getArticle",
                "articles",
                "One article, whole: credits, provenance, clean text and passage offsets",
                parameters=[
                    {
                        "name": "article_id",
                        "in": "path",
                        "required": True,
                        "description": "The article's id (`article.id` in a search result), "
                        "URL-quoted; it may contain slashes.",
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
                responses={
                    "200": _json_response("The article.", "ArticleResponse"),
                    **_errors("NotFound", "InternalError", "Unavailable"),
                },
            ),
        },
        "/api/articles/{article_id}/cite": {"get": _cite_operation()},
        "/api/suggest": {"get": _suggest_operation()},
        "/api/articles/{article_id}/similar": {"get": _similar_operation(limits)},
        "/healthz": {
            "get": _operation(
                "healthz",
                "operations",
                "The process answers",
                responses={
                    "200": _json_response("Alive.", "Healthy"),
                    **_errors("InternalError"),
                },
            )
        },
        "/readyz": {
            "get": _operation(
                "readyz",
                "operations",
                "Ready to search: the index is loaded and the model warm",
                responses={
                    "200": _json_response("Ready.", "Ready"),
                    **_errors("InternalError", "Unavailable"),
                },
            )
        },
        "/metrics": {
            "get": _operation(
                "metrics",
                "operations",
                "Prometheus metrics (text exposition format 0.0.4)",
                responses={
                    "200": {
                        "description": "The metrics.",
                        "headers": {"X-Request-ID": "RequestId"},
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
        "/api/admin/reload": {
            "post": _operation(
                "adminReload",
                "admin",
                "Load the index version the index link points to now",
                description="Off (404) unless the server has SEMSEARCH_ADMIN_KEY.",
                security=[{"apiKey": []}],
                responses={
                    "200": _json_response("Reloaded.", "Reloaded"),
                    **_errors(
                        "Unauthorized",
                        "Forbidden",
                        "AdminOff",
                        "TooManyRequests",
                        "InternalError",
                        "Unavailable",
                    ),
                },
            )
        },
        PATH: {
            "get": _operation(
                "openapi",
                "operations",
                "This document",
                responses={
                    "200": _json_response("The OpenAPI description.", {"type": "object"}),
                    **_errors("InternalError"),
                },
            )
        },
    }


def article_input_schema() -> dict[str, Any]:
    """One article to write: the JSONL reader's fields (each under any of its names), or a
    page as {"url", "html"}. Generated from the reader's field table."""
    properties: dict[str, Any] = {}
    for name, aliases in FIELD_ALIASES.items():
        if name in STRING_FIELDS:
            schema: dict[str, Any] = {"type": "string"}
        else:
            schema = {
                "anyOf": [
                    {"type": "string"},
                    {"type": "integer"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "null"},
                ]
            }
        others = [alias for alias in aliases if alias != name]
        also = f" Also read as: {', '.join(others)}." if others else ""
        limit = FIELD_LIMITS.get(name, MAX_META_CHARS)
        properties[name] = {**schema, "description": f"At most {limit:,} characters.{also}"}
    properties["html"] = {
        "type": "string",
        "description": "A page's raw HTML, read by the HTML reader (with `url`: where it "
        "was fetched from). Its id is `id`, else derived from the URL.",
    }
    return {
        "type": "object",
        "description": "An article in the JSONL reader's fields (text is required, the id "
        "is derived from the URL or the content when absent), or a page as {url, html}. "
        "Other members are ignored, as the JSONL reader ignores them.",
        "properties": properties,
    }


def _write_errors() -> dict[str, str]:
    return _errors(
        "BadRequest",
        "Unauthorized",
        "Forbidden",
        "PayloadTooLarge",
        "UnsupportedMediaType",
        "TooManyRequests",
        "InternalError",
        "Unavailable",
        "InsufficientStorage",
    )


def _write_operation(max_write_bytes: int) -> dict[str, Any]:
    """POST /api/articles: upsert by id, NDJSON, a JSON array or one page's HTML."""
    return _operation(
        "writeArticles",
        "writes",
        "Create or replace articles by id (NDJSON, a JSON array, or a page's HTML)",
        description="Needs a key with the write scope. Each item is answered in `items`, in "
        "order, with its line (NDJSON) or place (array): created, updated, unchanged (same "
        "content) or refused with the reason; one bad item never refuses the others. An "
        "array that is not JSON is a 400. text/html takes one page with `?url=` (and "
        f"`?id=`). A body over {max_write_bytes} bytes, or over the item limit, is a 413.",
        security=[{"apiKey": []}],
        parameters=[
            {
                "name": "url",
                "in": "query",
                "required": False,
                "description": "text/html: the URL the page was fetched from (required for "
                "a page); ignored with the other content types.",
                "schema": {"type": "string", "maxLength": MAX_META_CHARS},
            },
            {
                "name": "id",
                "in": "query",
                "required": False,
                "description": "text/html: the article's id (default: derived from url); "
                "ignored with the other content types.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
            },
        ],
        requestBody={
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "pattern": r"\S",
                        "description": "One ArticleInput JSON object a line.",
                    }
                },
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {
                                "type": "array",
                                "items": {"$ref": _REF_TEMPLATE.format(model="ArticleInput")},
                            },
                            {"$ref": _REF_TEMPLATE.format(model="ArticleInput")},
                        ]
                    }
                },
                "text/html": {"schema": {"type": "string", "pattern": r"\S"}},
            },
        },
        responses={
            "200": _json_response("Every item, with what became of it.", "WriteResponse"),
            **_write_errors(),
        },
    )


def _delete_operation() -> dict[str, Any]:
    """DELETE /api/articles/{article_id}."""
    return _operation(
        "deleteArticle",
        "writes",
        "Delete one article",
        description="Needs a key with the write scope.",
        security=[{"apiKey": []}],
        parameters=[
            {
                "name": "article_id",
                "in": "path",
                "required": True,
                "description": "The article's id, URL-quoted; it may contain slashes.",
                "schema": {"type": "string", "minLength": 1},
            }
        ],
        responses={
            "200": _json_response("Deleted.", "WriteResponse"),
            **_errors(
                "BadRequest",
                "Unauthorized",
                "Forbidden",
                "NotFound",
                "TooManyRequests",
                "InternalError",
                "Unavailable",
                "InsufficientStorage",
            ),
        },
    )


def _bulk_delete_operation(max_write_bytes: int) -> dict[str, Any]:
    """POST /api/articles/delete: several ids, each answered."""
    ids = {"type": "array", "items": {"type": "string"}}
    return _operation(
        "deleteArticles",
        "writes",
        "Delete several articles",
        description="Needs a key with the write scope. Each id is answered in `items`, in "
        "order: deleted, or refused (not in the index, not a string, over the id limit). "
        f"A body over {max_write_bytes} bytes, or over the item limit, is a 413.",
        security=[{"apiKey": []}],
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            ids,
                            {
                                "type": "object",
                                "properties": {"ids": ids},
                                "required": ["ids"],
                                "additionalProperties": False,
                            },
                        ]
                    }
                }
            },
        },
        responses={
            "200": _json_response("Every id, with what became of it.", "WriteResponse"),
            **_write_errors(),
        },
    )


def _similar_operation(limits: Limits) -> dict[str, Any]:
    """GET /api/articles/{article_id}/similar: more like this, from the stored vectors."""
    return _operation(
        "similarArticles",
        "articles",
        "The articles most like this one",
        description="Nearest by the mean of the article's stored passage vectors; each "
        "other article once, with its closest passage; the article and its syndicated "
        "copies left out. Any parameter but k is refused with 400.",
        parameters=[
            {
                "name": "article_id",
                "in": "path",
                "required": True,
                "description": "The article's id, URL-quoted; it may contain slashes.",
                "schema": {"type": "string", "minLength": 1},
            },
            *_model_parameters(similar_request_model(limits)),
        ],
        responses={
            "200": _json_response("The similar articles, nearest first.", "SimilarResponse"),
            **_errors("BadRequest", "NotFound", "InternalError", "Unavailable"),
        },
    )


def _suggest_operation() -> dict[str, Any]:
    return _operation(
        "suggest",
        "search",
        "Suggestions for the search box: titles and recurring phrases that start with q",
        parameters=_model_parameters(SuggestRequest),
        responses={
            "200": _json_response("The suggestions, most frequent first.", "SuggestResponse"),
            **_errors("BadRequest", "InternalError", "Unavailable"),
        },
    )


def _cite_operation() -> dict[str, Any]:
    """GET /api/articles/{article_id}/cite: one citation format, as its own media type."""
    text = {"schema": {"type": "string"}}
    return _operation(
        "citeArticle",
        "articles",
        "The article's citation: credit line, APA, Chicago, BibTeX or CSL-JSON",
        description="Built from the stored metadata; fields the article lacks are left out. "
        "text, apa and chicago answer text/plain; bibtex and csl-json are downloads "
        "(Content-Disposition: attachment). Any parameter but format is refused with 400.",
        parameters=[
            {
                "name": "article_id",
                "in": "path",
                "required": True,
                "description": "The article's id, URL-quoted; it may contain slashes.",
                "schema": {"type": "string", "minLength": 1},
            },
            *_model_parameters(CiteRequest),
        ],
        responses={
            "200": {
                "description": "The citation.",
                "headers": {
                    "X-Request-ID": "RequestId",
                    "Content-Disposition": {
                        "description": "For bibtex and csl-json: `attachment; filename=...`.",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                },
                "content": {
                    "text/plain": text,
                    "application/x-bibtex": text,
                    "application/vnd.citationstyles.csl+json": {
                        "schema": {"type": "array", "items": {"type": "object"}}
                    },
                },
            },
            **_errors("BadRequest", "NotFound", "InternalError", "Unavailable"),
        },
    )


def _version() -> str:
    try:
        return metadata.version("semsearch")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def openapi_spec(
    settings: dict[str, Any] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_write_bytes: int = DEFAULT_MAX_WRITE_BYTES,
) -> dict[str, Any]:
    """The OpenAPI document for a server with these search settings and body limits."""
    limits = Limits.from_settings(settings)
    request_model = query_model(limits)
    _, schemas = models_json_schema(
        [
            (request_model, "validation"),
            *((model, "serialization") for model in (*RESPONSE_MODELS, *COLLECTION_MODELS)),
        ],
        ref_template=_REF_TEMPLATE,
    )
    spec = APISpec(
        title="semsearch",
        version=_version(),
        openapi_version=OPENAPI_VERSION,
        info={
            "description": "Semantic search over article collections: every passage comes "
            "back with its article's title, author, publication, date, URL and copyright. "
            'Every error answers {"ok": false, "error": ..., "status": N}.'
        },
    )
    for tag in (
        {"name": "search"},
        {"name": "articles", "description": "Articles read back whole."},
        {"name": "operations", "description": "Health, readiness, metrics, this document."},
        {"name": "writes", "description": "Articles written while the server serves."},
        {"name": "admin"},
        {"name": "collections", "description": "Several collections on one server; aliases."},
    ):
        spec.tag(tag)
    for name, schema in schemas["$defs"].items():
        spec.components.schema(name, schema)
    # POST /api/collections/search: a search body that also names the collections (a copy,
    # not allOf: the search body allows no other property).
    several = copy.deepcopy(schemas["$defs"]["SearchRequest"])
    several["properties"]["collections"] = {
        "description": "The collections to search: a comma-separated string or a list.",
        "anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string"}},
        ],
    }
    several["required"] = [*several.get("required", []), "collections"]
    spec.components.schema("CollectionsSearchRequest", several)
    for name, parameter in _parameters(schemas["$defs"]["SearchRequest"]).items():
        spec.components.parameter(name, "query", parameter)
    spec.components.header(
        "RequestId",
        {
            "description": "The request's id: the client's X-Request-ID when it is a short "
            "plain token, else a new one. It is on every log line of the request.",
            "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
        },
    )
    spec.components.header(
        "RetryAfter",
        {
            "description": "Seconds to wait before searching again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
    )
    for name, status, description in ERRORS:
        # The one error shape, with `status` pinned to the response's own.
        schema = {
            "allOf": [{"$ref": "#/components/schemas/Error"}],
            "properties": {"status": {"const": status}},
        }
        response = _json_response(description, schema)
        if name == "TooManyRequests":
            response["headers"]["Retry-After"] = "RetryAfter"
        if name == "Unauthorized":
            response["headers"]["WWW-Authenticate"] = {
                "description": "How to authenticate.",
                "required": True,
                "schema": {"type": "string", "const": REALM},
            }
        spec.components.response(name, response)
    spec.components.security_scheme(
        "apiKey",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`semsearch keys create`) with the scope the operation "
            "needs (search, write or admin), or the server's SEMSEARCH_ADMIN_KEY (every scope).",
        },
    )
    spec.components.schema("ArticleInput", article_input_schema())
    paths = _paths(max_body_bytes, max_write_bytes, limits)
    for path, operations in {**paths, **openapi_paths(paths)}.items():  # + web/collections.py
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _openapi_view() -> Any:
    service = served_index().service
    settings = service.settings if service is not None else None
    max_body = current_app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY_BYTES
    max_write = current_app.config.get("MAX_WRITE_BYTES") or DEFAULT_MAX_WRITE_BYTES
    return jsonify(openapi_spec(settings, int(max_body), int(max_write)))


def init_openapi(app: Flask) -> None:
    """Serve the OpenAPI document at GET /api/openapi.json; a second call does nothing."""
    if ENDPOINT in app.view_functions:
        return
    app.add_url_rule(PATH, endpoint=ENDPOINT, view_func=_openapi_view, methods=["GET"])
