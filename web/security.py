"""Security headers on every response, opt-in CORS for the JSON API, opt-in rate limiting.

`init_security(app)` is called once from `create_app`, after the config is loaded. It reads
(each also settable as `SEMSEARCH_<NAME>`, like every app setting):

- `CORS_ORIGINS`: off by default. A comma-separated list of exact origins
  (`https://a.example,https://b.example`, scheme and host and port, no path) or `*`. When
  set, `/api/` responses to a request from an allowed `Origin` say so
  (`Access-Control-Allow-Origin`) and a preflight (`OPTIONS`) answers 204 for GET and POST
  with a JSON body. Any other origin gets no CORS headers, so browsers keep blocking it.
- `RATE_LIMIT`: off by default. A rate such as `60/minute` (or `10/second;300/hour`) that
  each client may search at, counted over `/api/search` and the page's searches (`/?q=`)
  together; health, readiness and metrics are never limited. Over it the answer is a 429
  with `Retry-After` (on `/api/`, the usual JSON error). Counts are kept in the memory of
  this one process (flask-limiter, moving window): several processes each count their own.
- `TRUSTED_PROXIES`: 0 by default. The client is the connection's remote address, so behind
  a reverse proxy every request looks like the proxy's and shares one limit. Set this to
  the number of proxies in front of the app (usually 1) to take the client from their
  `X-Forwarded-For` (werkzeug's ProxyFix). Never set it without a proxy that overwrites
  that header: clients could then pick their own address.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

#: No script at all, styles only from our own stylesheet: nothing inline can run or restyle
#: the page, even if some text slipped past escaping.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Searches travel in the URL (?q=): never hand them to the sites results link to.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

API_PREFIX = "/api/"
CORS_METHODS = "GET, POST"
CORS_HEADERS = "Content-Type"
#: How long (seconds) a browser may reuse a preflight answer.
CORS_MAX_AGE = "600"

#: The views that run a search; only these count towards RATE_LIMIT (the page only with ?q=).
SEARCH_ENDPOINTS = {"search.api_search": ("GET", "POST"), "search.index_page": ("GET",)}

#: Set on app.extensions once init_security has run, so a second call changes nothing.
SECURITY_EXTENSION = "semsearch_security"

#: Where the limiter is kept on the app, for tests and operators (`limiter.reset()`).
LIMITER_EXTENSION = "semsearch_limiter"

ORIGIN_PATTERN = re.compile(r"^https?://[^/?#\s]+$")


def init_security(app: Flask) -> None:
    """Add security headers, CORS (if CORS_ORIGINS) and rate limiting (if RATE_LIMIT) to app."""
    if app.extensions.get(SECURITY_EXTENSION):
        return
    app.extensions[SECURITY_EXTENSION] = True
    trusted_proxies = parse_trusted_proxies(app.config.get("TRUSTED_PROXIES"))
    if trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies
        )
    origins = parse_cors_origins(app.config.get("CORS_ORIGINS"))
    if origins:
        init_cors(app, origins)
    rate_limit = parse_rate_limit(app.config.get("RATE_LIMIT"))
    if rate_limit:
        init_rate_limit(app, rate_limit)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def parse_cors_origins(value: Any) -> frozenset[str]:
    """CORS_ORIGINS as a set of exact origins ({'*'} for any); empty when not configured."""
    if not value:
        return frozenset()
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    origins = frozenset(str(item).strip() for item in items if str(item).strip())
    for origin in origins:
        if origin != "*" and not ORIGIN_PATTERN.match(origin):
            raise ValueError(
                f"CORS_ORIGINS: {origin!r} is not an origin; give scheme and host (and port) "
                "with no path or trailing slash, e.g. https://example.org, or *"
            )
    return origins


def parse_rate_limit(value: Any) -> str | None:
    """RATE_LIMIT checked at start-up, so a typo fails loudly instead of limiting nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        parse_many(str(value))
    except ValueError:
        raise ValueError(
            f"RATE_LIMIT: {value!r} is not a rate; write it as e.g. 60/minute or 10/second;300/hour"
        ) from None
    return str(value)


def parse_trusted_proxies(value: Any) -> int:
    """TRUSTED_PROXIES as a count of proxies, 0 when not configured."""
    if value is None or value == "":
        return 0
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if count < 0 or isinstance(value, bool):
        raise ValueError(f"TRUSTED_PROXIES: {value!r} is not a count of proxies such as 1")
    return count


def init_cors(app: Flask, origins: frozenset[str]) -> None:
    """Answer preflights and mark /api/ responses for the allowed origins."""
    any_origin = "*" in origins

    def allowed_origin() -> str | None:
        origin = request.headers.get("Origin")
        if not request.path.startswith(API_PREFIX) or not origin:
            return None
        if any_origin:
            return "*"
        return origin if origin in origins else None

    @app.before_request
    def answer_preflight() -> Response | None:
        if request.method != "OPTIONS" or request.url_rule is None:
            return None
        if "Access-Control-Request-Method" not in request.headers:
            return None
        allow = allowed_origin()
        if allow is None:
            return None
        response = Response(status=204)
        del response.headers["Content-Type"]
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
        return response

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        if not request.path.startswith(API_PREFIX):
            return response
        if not any_origin:
            # The answer depends on Origin: caches must not hand one origin's answer to another.
            response.vary.add("Origin")
        allow = allowed_origin()
        if allow is not None:
            response.headers["Access-Control-Allow-Origin"] = allow
            if request.method != "OPTIONS":
                # Not a CORS-safelisted header: without this, scripts cannot read it.
                response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        return response


def is_search_request() -> bool:
    """Whether this request runs a search, and so counts towards RATE_LIMIT."""
    methods = SEARCH_ENDPOINTS.get(request.endpoint or "")
    if methods is None or request.method not in methods:
        return False
    return request.endpoint != "search.index_page" or "q" in request.args


def init_rate_limit(app: Flask, rate_limit: str) -> None:
    """One shared budget per client for all searches, page and API; 429 + Retry-After over it."""
    limiter = Limiter(
        key_func=get_remote_address,
        application_limits=[rate_limit],
        storage_uri="memory://",
        strategy="moving-window",
        key_prefix="semsearch",
    )
    limiter.request_filter(lambda: not is_search_request())
    limiter.init_app(app)
    app.extensions[LIMITER_EXTENSION] = limiter

    from semsearch.web.views import error_body

    def handle_rate_limited(exc: RateLimitExceeded) -> Any:
        current = limiter.current_limit
        reset_at = current.window[0] if current is not None else time.time() + 1
        retry_after = max(1, math.ceil(reset_at - time.time()))
        message = (
            f"too many searches: the limit is {exc.limit.limit} for each client; "
            f"retry in {retry_after} second{'' if retry_after == 1 else 's'}"
        )
        if request.path.startswith(API_PREFIX):
            response, status = error_body(message, 429)
        else:
            exc.description = message
            response, status = exc.get_response(), 429
        response.headers["Retry-After"] = str(retry_after)
        return response, status

    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
