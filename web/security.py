"""Security headers on every response, opt-in CORS for the JSON API, opt-in rate limiting.

`init_security(app)` is called once from `create_app`, after the config is loaded. It reads
three server settings from app.config, each declared, parsed and documented in the registry
(`semsearch.settings`, docs/settings.md) and also settable as `SEMSEARCH_<NAME>`:
`CORS_ORIGINS` (exact origins allowed to call `/api/` from a browser; off by default),
`RATE_LIMIT` (searches per client, page and API together; off by default) and
`TRUSTED_PROXIES` (proxies whose `X-Forwarded-For` names the client; 0 by default).
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from semsearch.settings import config_setting

#: Scripts and styles only from our own files, requests only to ourselves: nothing inline
#: can run or restyle the page, even if some text slipped past escaping. The one script is
#: the search box's suggestions (static/suggest.js), which asks /api/suggest.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
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


def init_security(app: Flask) -> None:
    """Add security headers, CORS (if CORS_ORIGINS) and rate limiting (if RATE_LIMIT) to app."""
    if app.extensions.get(SECURITY_EXTENSION):
        return
    app.extensions[SECURITY_EXTENSION] = True
    # Parsed again here (create_app already did) for an app whose config was set by hand.
    trusted_proxies = config_setting(app.config, "trusted_proxies")
    if isinstance(trusted_proxies, int) and trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies
        )
    origins = config_setting(app.config, "cors_origins")
    if isinstance(origins, frozenset) and origins:
        init_cors(app, origins)
    rate_limit = config_setting(app.config, "rate_limit")
    if isinstance(rate_limit, str) and rate_limit:
        init_rate_limit(app, rate_limit)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


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

    from semsearch.web.errors import error_body

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
