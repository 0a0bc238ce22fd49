"""The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`.

Generated, not written: the schemas are the JSON Schemas of the request model
(`semsearch.search.query`) and the response models (`semsearch.web.models`), the models
the server validates and answers with. apispec assembles them into the document; what this
module adds is what no model knows: the operations, their statuses and headers. The request
model is made for the served app's settings when the document is asked for, so the limits
(longest query, largest k, body size) are those this server enforces.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from apispec import APISpec
from flask import Flask, current_app, jsonify
from pydantic.json_schema import models_json_schema

from semsearch.search.citation import FORMATS as CITATION_FORMATS
from semsearch.search.query import SEARCH_PARAMS, Limits, query_model
from semsearch.web.models import RESPONSE_MODELS
from semsearch.web.served import served_index

#: The endpoint name; `init_openapi` does nothing when the app already has it.
ENDPOINT = "openapi"
PATH = "/api/openapi.json"
OPENAPI_VERSION = "3.1.0"
#: The app's own default (create_app); the view passes the configured value.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
_REF_TEMPLATE = "#/components/schemas/{model}"

#: Error responses: component name, status, description.
ERRORS = (
    ("BadRequest", 400, "A parameter is missing or invalid; `error` says which and why."),
    ("Unauthorized", 401, "No valid `Authorization: Bearer <admin key>`."),
    ("AdminOff", 404, "The admin API is off: the server has no SEMSEARCH_ADMIN_KEY."),
    ("NotFound", 404, "No article with this id in the served index."),
    ("PayloadTooLarge", 413, "The request body is over the size limit."),
    ("TooManyRequests", 429, "Over the rate limit (only when RATE_LIMIT is configured)."),
    ("InternalError", 500, "Unexpected; the details are in the server log, never here."),
    ("Unavailable", 503, "No index is loaded (or a reload failed); see /readyz and the log."),
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


def _paths(max_body_bytes: int) -> dict[str, dict[str, Any]]:
    return {
        "/api/search": {
            "get": _search_operation("get", max_body_bytes),
            "post": _search_operation("post", max_body_bytes),
        },
        "/api/articles/{article_id}": {
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
            )
        },
        "/api/articles/{article_id}/cite": {"get": _cite_operation()},
        "/api/articles/{article_id}/similar": {"get": _similar_operation()},
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
                security=[{"adminKey": []}],
                responses={
                    "200": _json_response("Reloaded.", "Reloaded"),
                    **_errors("Unauthorized", "AdminOff", "InternalError", "Unavailable"),
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


def _similar_operation() -> dict[str, Any]:
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
            {
                "name": "k",
                "in": "query",
                "required": False,
                "description": "How many articles (default: the server's default_k).",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        ],
        responses={
            "200": _json_response("The similar articles, nearest first.", "SimilarResponse"),
            **_errors("BadRequest", "NotFound", "InternalError", "Unavailable"),
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
            {
                "name": "format",
                "in": "query",
                "required": False,
                "description": "text (the plain credit line: author, title, publication, "
                "date, URL, copyright), apa (7th edition), chicago (notes and bibliography), "
                "bibtex or csl-json. Case and surrounding spaces are ignored.",
                "schema": {"type": "string", "enum": list(CITATION_FORMATS), "default": "text"},
            },
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
    settings: dict[str, Any] | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> dict[str, Any]:
    """The OpenAPI document for a server with these search settings and body limit."""
    request_model = query_model(Limits.from_settings(settings))
    _, schemas = models_json_schema(
        [(request_model, "validation"), *((model, "serialization") for model in RESPONSE_MODELS)],
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
        {"name": "admin"},
    ):
        spec.tag(tag)
    for name, schema in schemas["$defs"].items():
        spec.components.schema(name, schema)
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
                "schema": {"type": "string", "const": 'Bearer realm="semsearch admin"'},
            }
        spec.components.response(name, response)
    spec.components.security_scheme(
        "adminKey",
        {"type": "http", "scheme": "bearer", "description": "The server's SEMSEARCH_ADMIN_KEY."},
    )
    for path, operations in _paths(max_body_bytes).items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _openapi_view() -> Any:
    service = served_index().service
    settings = service.settings if service is not None else None
    max_body = current_app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY_BYTES
    return jsonify(openapi_spec(settings, int(max_body)))


def init_openapi(app: Flask) -> None:
    """Serve the OpenAPI document at GET /api/openapi.json; a second call does nothing."""
    if ENDPOINT in app.view_functions:
        return
    app.add_url_rule(PATH, endpoint=ENDPOINT, view_func=_openapi_view, methods=["GET"])
