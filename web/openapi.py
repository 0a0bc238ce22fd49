"""The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`.

Written by hand from what the code does (`views`, `render`, `semsearch.search.query`,
`security`, `observability`), and checked against the running server by a schema
fuzzer (`tests/test_openapi.py`). Limits (longest query, largest k, body size) are read from
the served app's settings when the document is asked for, so it describes this server.
Shapes carry `additionalProperties: false` wherever the server never adds a field, so a
client (or the fuzzer) can check them strictly.
"""

from __future__ import annotations

import copy
from importlib import metadata
from typing import Any

from flask import Flask, current_app, jsonify

from semsearch.search.query import FILTER_NAMES, GROUPS, MAX_FILTER_CHARS, MODES
from semsearch.search.service import MAX_ALSO
from semsearch.settings import get_setting

#: The endpoint name; `init_openapi` does nothing when the app already has it.
ENDPOINT = "openapi"
PATH = "/api/openapi.json"
OPENAPI_VERSION = "3.1.0"
#: The app's own default (create_app); the view passes the configured value.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
#: `semsearch.search.query` accepts k as a string of at most this many digits.
_MAX_K_DIGITS = 9
#: Characters Python's str.split() treats as whitespace that a JSON Schema (ECMA-262) `\s`
#: does not: a query made only of these is empty to the server.
_PYTHON_ONLY_SPACE = r"\x1c-\x1f\x85"
_DATE_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"

REF = "#/components"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{REF}/{kind}/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, or null."""
    if set(schema) == {"type"} and isinstance(schema["type"], str):
        return {"type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object with exactly these properties (all required unless told)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _any_digits(count: int) -> str:
    return "" if count == 0 else "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


def integer_range_pattern(high: int) -> str:
    """A regular expression for the decimal numbers 1..high, without sign or leading zeros."""
    high = min(high, 10**_MAX_K_DIGITS - 1)
    if high < 1:
        return "^(?!)$"
    digits = str(high)
    width = len(digits)
    parts = ["[1-9]" + _any_digits(n - 1) for n in range(1, width)]
    for position, digit in enumerate(digits):
        low = 1 if position == 0 else 0
        top = int(digit) - 1
        if top < low:
            continue
        choice = str(low) if low == top else f"[{low}-{top}]"
        parts.append(digits[:position] + choice + _any_digits(width - position - 1))
    parts.append(digits)
    return f"^({'|'.join(parts)})$"


def _search_fields(max_chars: int, max_k: int, default_k: int, mode: str) -> dict[str, Any]:
    """The schemas of the search parameters, shared by the query string and the JSON body."""
    return {
        "q": {
            "type": "string",
            "minLength": 1,
            "maxLength": max_chars,
            # Runs of whitespace count as one space; a query of whitespace alone is refused.
            "pattern": rf"[^\s{_PYTHON_ONLY_SPACE}]",
            "description": "What to search for, in plain language. Whitespace is collapsed "
            f"before the length is checked (at most {max_chars} characters).",
            "examples": ["how long did the tram strike last?"],
        },
        "k": {
            "type": "integer",
            "minimum": 1,
            "maximum": max_k,
            "default": default_k,
            "description": f"How many results, 1 to {max_k}.",
        },
        "mode": {
            "type": "string",
            "enum": list(MODES),
            "default": mode,
            "description": "dense (embeddings), keyword (BM25) or hybrid (both, fused). "
            "Case and surrounding spaces are ignored.",
        },
        "group": {
            "type": "string",
            "enum": list(GROUPS),
            "description": "article: the best passage of each article, with up to "
            f"{MAX_ALSO} of its other matching passages under `also`.",
        },
        "published_from": {
            "type": "string",
            "pattern": _DATE_PATTERN,
            "description": "Earliest publication date, inclusive: YYYY, YYYY-MM or YYYY-MM-DD. "
            "Must not be after published_to.",
            "examples": ["2017-01"],
        },
        "published_to": {
            "type": "string",
            "pattern": _DATE_PATTERN,
            "description": "Latest publication date, inclusive: YYYY, YYYY-MM or YYYY-MM-DD.",
            "examples": ["2017-12-31"],
        },
        "publication": {
            "type": "string",
            "maxLength": MAX_FILTER_CHARS,
            "description": "The publication, matched exactly ignoring case.",
        },
        "author": {
            "type": "string",
            "maxLength": MAX_FILTER_CHARS,
            "description": "A part of the byline, ignoring case.",
        },
    }


def _schemas(max_chars: int, max_k: int, default_k: int, mode: str) -> dict[str, Any]:
    fields = _search_fields(max_chars, max_k, default_k, mode)
    body_k = {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": max_k},
            {
                "type": "string",
                "pattern": integer_range_pattern(max_k),
                "description": "The same number written as a string.",
            },
            {"type": "null"},
        ],
        "description": fields["k"]["description"] + " null means the default.",
    }
    request_properties: dict[str, Any] = {
        name: schema if name in ("q", "k") else _nullable(schema)
        for name, schema in copy.deepcopy(fields).items()
    }
    request_properties["k"] = body_k
    passage = _closed(
        {
            "text": {"type": "string"},
            "highlight": {
                "type": "string",
                "description": "The passage HTML-escaped, query words in <mark>, the best "
                'sentence in <span class="best">.',
            },
            "chunk_id": {"type": "integer", "minimum": 0},
            "start": {"type": "integer", "minimum": 0},
            "end": {"type": "integer", "minimum": 0},
            "best_sentence": _nullable(_ref("schemas", "BestSentence")),
        }
    )
    passage["description"] = "A passage; offsets are characters in the article's clean text."
    return {
        "SearchRequest": {
            **_closed(request_properties, required=["q"]),
            "description": "The parameters of a search; any other member is refused with 400.",
        },
        "SearchResult": {
            **_closed(
                {
                    "ok": {"const": True},
                    "query": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": max_chars,
                        "description": "The query, whitespace collapsed.",
                    },
                    "k": {"type": "integer", "minimum": 1, "maximum": max_k},
                    "mode": {"type": "string", "enum": list(MODES)},
                    "group": {"type": ["string", "null"], "enum": [*GROUPS, None]},
                    "filters": _ref("schemas", "Filters"),
                    "took_ms": {"type": "number", "minimum": 0},
                    "index": _closed(
                        {"version": {"type": "string"}, "chunks": {"type": "integer", "minimum": 0}}
                    ),
                    "results": {
                        "type": "array",
                        "maxItems": max_k,
                        "items": _ref("schemas", "Hit"),
                    },
                    "no_match_reason": {
                        "type": ["string", "null"],
                        "description": "Why `results` is empty, when the server refuses to "
                        "answer with weak passages.",
                    },
                }
            ),
            # Passages are grouped under `also` only when the search groups by article.
            "if": {"properties": {"group": {"const": None}}},
            "then": {"properties": {"results": {"items": {"properties": {"also": False}}}}},
        },
        "Filters": {
            **_closed({name: copy.deepcopy(fields[name]) for name in FILTER_NAMES}, required=[]),
            "description": "The filters in force, normalised; those not given are left out.",
        },
        "Hit": _closed(
            {
                "score": {
                    "type": "number",
                    "description": "Fused score (hybrid), cosine similarity (dense) or BM25 "
                    "(keyword).",
                },
                "scores": _closed(
                    {"dense": {"type": ["number", "null"]}, "keyword": {"type": ["number", "null"]}}
                ),
                "passage": _ref("schemas", "Passage"),
                "article": _ref("schemas", "Article"),
                "also": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_ALSO,
                    "items": _ref("schemas", "Passage"),
                    "description": "Other matching passages of the same article "
                    "(only with group=article, only when there are some).",
                },
            },
            required=["score", "scores", "passage", "article"],
        ),
        "Passage": passage,
        "BestSentence": _closed(
            {
                "text": {"type": "string"},
                "start": {"type": "integer", "minimum": 0},
                "end": {"type": "integer", "minimum": 0},
            }
        ),
        "Article": _closed(
            {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "author": {"type": ["string", "null"]},
                "publication": {"type": ["string", "null"]},
                "published": {
                    "type": ["string", "null"],
                    "description": "ISO 8601: YYYY, YYYY-MM or YYYY-MM-DD.",
                },
                "url": {"type": ["string", "null"]},
                "site_url": {"type": ["string", "null"]},
                "copyright": {"type": ["string", "null"]},
                "license": {"type": ["string", "null"]},
                "source_note": {"type": ["string", "null"]},
                "tags": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            }
        ),
        "IndexSummary": _closed(
            {
                "version": {"type": "string"},
                "chunks": {"type": "integer", "minimum": 0},
                "articles": {"type": "integer", "minimum": 0},
                "model": {"type": "string"},
            }
        ),
        "Ready": _closed(
            {
                "ok": {"const": True},
                "index": _ref("schemas", "IndexSummary"),
                "reload_error": {
                    "type": ["string", "null"],
                    "description": "Why the last reload failed; the version named in `index` "
                    "still answers.",
                },
            }
        ),
        "Reloaded": _closed(
            {
                "ok": {"const": True},
                "reloaded": {"const": True},
                "index": _ref("schemas", "IndexSummary"),
            }
        ),
        "Healthy": _closed({"ok": {"const": True}}),
        "Error": {
            **_closed(
                {
                    "ok": {"const": False},
                    "error": {"type": "string", "description": "What was wrong and how to fix it."},
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                }
            ),
            "description": "The one error shape; `status` repeats the HTTP status.",
        },
    }


#: Error responses: component name, status, description.
ERRORS = (
    ("BadRequest", 400, "A parameter is missing or invalid; `error` says which and why."),
    ("Unauthorized", 401, "No valid `Authorization: Bearer <admin key>`."),
    ("AdminOff", 404, "The admin API is off: the server has no SEMSEARCH_ADMIN_KEY."),
    ("PayloadTooLarge", 413, "The request body is over the size limit."),
    ("TooManyRequests", 429, "Over the rate limit (only when RATE_LIMIT is configured)."),
    ("InternalError", 500, "Unexpected; the details are in the server log, never here."),
    ("Unavailable", 503, "No index is loaded (or a reload failed); see /readyz and the log."),
)


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": _ref("headers", "RequestId")},
        "content": {"application/json": {"schema": schema}},
    }


def _responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for name, status, description in ERRORS:
        schema = {
            "allOf": [_ref("schemas", "Error"), {"properties": {"status": {"const": status}}}]
        }
        responses[name] = _json_response(description, schema)
    responses["TooManyRequests"]["headers"]["Retry-After"] = _ref("headers", "RetryAfter")
    responses["Unauthorized"]["headers"]["WWW-Authenticate"] = {
        "description": "How to authenticate.",
        "required": True,
        "schema": {"type": "string", "const": 'Bearer realm="semsearch admin"'},
    }
    return responses


def _errors(*names: str) -> dict[str, Any]:
    status = {name: code for name, code, _ in ERRORS}
    return {str(status[name]): _ref("responses", name) for name in names}


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
                "The results, best first (possibly none: see no_match_reason).",
                _ref("schemas", "SearchResult"),
            ),
            **_errors("BadRequest"),
            **({"413": _ref("responses", "PayloadTooLarge")} if method == "post" else {}),
            **_errors("TooManyRequests", "InternalError", "Unavailable"),
        },
    }
    if method == "get":
        operation["summary"] = "Search, parameters in the query string"
        operation["description"] = unknown
        operation["parameters"] = [
            _ref("parameters", name) for name in ("q", "k", "mode", "group", *FILTER_NAMES)
        ]
    else:
        operation["summary"] = "Search, parameters in a JSON object"
        operation["description"] = (
            f"The same parameters as GET; null is the same as leaving one out. {unknown} "
            f"A body over {max_body_bytes} bytes is refused with 413. The body is read as "
            "JSON whatever its Content-Type."
        )
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("schemas", "SearchRequest")}},
        }
    return operation


def _paths(max_body_bytes: int) -> dict[str, Any]:
    return {
        "/api/search": {
            "get": _search_operation("get", max_body_bytes),
            "post": _search_operation("post", max_body_bytes),
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["operations"],
                "summary": "The process answers",
                "responses": {
                    "200": _json_response("Alive.", _ref("schemas", "Healthy")),
                    **_errors("InternalError"),
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["operations"],
                "summary": "Ready to search: the index is loaded and the model warm",
                "responses": {
                    "200": _json_response("Ready.", _ref("schemas", "Ready")),
                    **_errors("InternalError", "Unavailable"),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["operations"],
                "summary": "Prometheus metrics (text exposition format 0.0.4)",
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "headers": {"X-Request-ID": _ref("headers", "RequestId")},
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/admin/reload": {
            "post": {
                "operationId": "adminReload",
                "tags": ["admin"],
                "summary": "Load the index version the index link points to now",
                "description": "Off (404) unless the server has SEMSEARCH_ADMIN_KEY.",
                "security": [{"adminKey": []}],
                "responses": {
                    "200": _json_response("Reloaded.", _ref("schemas", "Reloaded")),
                    **_errors("Unauthorized", "AdminOff", "InternalError", "Unavailable"),
                },
            }
        },
        PATH: {
            "get": {
                "operationId": "openapi",
                "tags": ["operations"],
                "summary": "This document",
                "responses": {
                    "200": _json_response("The OpenAPI description.", {"type": "object"}),
                    **_errors("InternalError"),
                },
            }
        },
    }


def _version() -> str:
    try:
        return metadata.version("semsearch")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def openapi_spec(
    settings: dict[str, Any] | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> dict[str, Any]:
    """The OpenAPI document for a server with these search settings and body limit."""
    max_chars = int(get_setting("max_query_chars", settings))
    max_k = int(get_setting("max_k", settings))
    default_k = int(get_setting("default_k", settings))
    mode = str(get_setting("mode", settings))
    fields = _search_fields(max_chars, max_k, default_k, mode)
    parameters = {
        name: {
            "name": name,
            "in": "query",
            "required": name == "q",
            "schema": {key: value for key, value in schema.items() if key != "description"},
            "description": schema["description"],
        }
        for name, schema in fields.items()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "semsearch",
            "version": _version(),
            "description": "Semantic search over article collections: every passage comes "
            "back with its article's title, author, publication, date, URL and copyright. "
            'Every error answers {"ok": false, "error": ..., "status": N}.',
        },
        "tags": [
            {"name": "search"},
            {"name": "operations", "description": "Health, readiness, metrics, this document."},
            {"name": "admin"},
        ],
        "paths": _paths(max_body_bytes),
        "components": {
            "schemas": _schemas(max_chars, max_k, default_k, mode),
            "parameters": parameters,
            "responses": _responses(),
            "headers": {
                "RequestId": {
                    "description": "The request's id: the client's X-Request-ID when it is a "
                    "short plain token, else a new one. It is on every log line of the request.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                },
                "RetryAfter": {
                    "description": "Seconds to wait before searching again.",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                },
            },
            "securitySchemes": {
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The server's SEMSEARCH_ADMIN_KEY.",
                }
            },
        },
    }


def _openapi_view() -> Any:
    from semsearch.web import EXTENSION  # not at import: create_app's module imports this one

    service = current_app.extensions.get(EXTENSION, {}).get("service")
    settings = service.settings if service is not None else None
    max_body = current_app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY_BYTES
    return jsonify(openapi_spec(settings, int(max_body)))


def init_openapi(app: Flask) -> None:
    """Serve the OpenAPI document at GET /api/openapi.json; a second call does nothing."""
    if ENDPOINT in app.view_functions:
        return
    app.add_url_rule(PATH, endpoint=ENDPOINT, view_func=_openapi_view, methods=["GET"])
