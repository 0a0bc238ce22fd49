"""Who may call what: API keys with scopes, given as `Authorization: Bearer KEY`.

`require_scope("write")` in a view answers 401 (no key, or one that is not valid: with
`WWW-Authenticate`), 403 (a valid key without the scope) or 429 (over the key's rate limit,
`KEY_RATE_LIMIT`, with `Retry-After`), each in the one JSON error shape, and otherwise
returns who is calling. Keys come from `SEMSEARCH_ADMIN_KEY` (every scope) and the keys file
(`API_KEYS_FILE`, `semsearch.web.keys`). With `SEARCH_NEEDS_KEY` on, searching and reading
articles need the search scope too; off (the default), they are open.

The header is compared as the bytes the client sent (WSGI hands it over as latin-1 text), so
a key with non-ASCII characters sent as UTF-8 still matches; the admin key in constant time.
A key is never logged: only its id (`ssk_<id>_...`) or "admin-key" reaches the log.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from semsearch.settings import config_setting
from semsearch.web.keys import SCOPES, KeyStore

log = logging.getLogger(__name__)

#: Where the per-key rate limiter is kept on the app.
LIMITER_EXTENSION = "semsearch_key_limits"
#: The views that search or read articles: open unless SEARCH_NEEDS_KEY.
READ_ENDPOINTS = frozenset(
    {
        "search.index_page",
        "search.api_search",
        "search.api_article",
        "search.api_cite",
        "search.article_page",
        "search.api_similar",
        "search.similar_page",
    }
)
REALM = 'Bearer realm="semsearch"'


@dataclass(frozen=True)
class Caller:
    """Who a request's key belongs to: its id ("admin-key" for SEMSEARCH_ADMIN_KEY)."""

    key_id: str
    scopes: frozenset[str]


class KeyRequired(Unauthorized):
    """401 with the Bearer challenge (werkzeug's own would leave the realm unquoted)."""

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", REALM)]


def keys_configured(app: Flask) -> bool:
    """Whether any key can be valid: an admin key, or a keys file."""
    return bool(app.config.get("ADMIN_KEY")) or bool(app.config.get("API_KEYS_FILE"))


def identify() -> Caller | None:
    """The caller named by this request's Bearer key, or None (no key, or not a valid one)."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    given = header.encode("latin-1", errors="replace")
    admin_key = current_app.config.get("ADMIN_KEY")
    admin = isinstance(admin_key, str) and bool(admin_key)
    if admin and hmac.compare_digest(given, f"Bearer {admin_key}".encode()):
        return Caller("admin-key", frozenset(SCOPES))
    path = current_app.config.get("API_KEYS_FILE")
    if not path or not given.startswith(b"Bearer ") or not given.isascii():
        return None
    record = KeyStore(path).check(given[len(b"Bearer ") :].decode("ascii"))
    if record is None:
        return None
    return Caller(record.id, frozenset(s for s in SCOPES if record.allows(s)))


def require_scope(scope: str) -> Caller:
    """The caller if its key holds `scope`; else a 401, 403 or 429 (see the module's doc)."""
    caller = identify()
    if caller is None:
        wanted = f"a valid Authorization: Bearer <key> with the {scope} scope is required"
        if not keys_configured(current_app):
            wanted += (
                "; this server has no keys: set SEMSEARCH_ADMIN_KEY or create keys with "
                "`semsearch keys create` (and SEMSEARCH_API_KEYS_FILE)"
            )
        raise KeyRequired(wanted)
    if scope not in caller.scopes:
        log.info("key %s refused: no %s scope", caller.key_id, scope)
        raise Forbidden(f"this key does not have the {scope} scope")
    check_key_rate(caller)
    return caller


def check_key_rate(caller: Caller) -> None:
    """Count one request against the caller's key; 429 with Retry-After when over."""
    limiter = current_app.extensions.get(LIMITER_EXTENSION)
    if limiter is None:
        return
    strategy, limits = limiter
    for limit in limits:
        if not strategy.hit(limit, "key", caller.key_id):
            reset_at = strategy.get_window_stats(limit, "key", caller.key_id).reset_time
            retry_after = max(1, math.ceil(reset_at - time.time()))
            log.info("key %s over its rate limit %s", caller.key_id, limit)
            raise TooManyRequests(
                f"too many requests for this key: the limit is {limit}; retry in "
                f"{retry_after} second{'' if retry_after == 1 else 's'}",
                retry_after=retry_after,
            )


def init_auth(app: Flask) -> None:
    """The per-key rate limiter (if KEY_RATE_LIMIT) and the key check on searches and
    article reads (if SEARCH_NEEDS_KEY)."""
    rate = config_setting(app.config, "key_rate_limit")
    if isinstance(rate, str) and rate:
        from limits import parse_many
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        app.extensions[LIMITER_EXTENSION] = (
            MovingWindowRateLimiter(MemoryStorage()),
            parse_many(rate),
        )
    if config_setting(app.config, "search_needs_key"):

        @app.before_request
        def check_search_key() -> None:
            if request.endpoint not in READ_ENDPOINTS or request.method == "OPTIONS":
                return
            if request.endpoint == "search.index_page" and "q" not in request.args:
                return  # the empty search box shows nothing
            require_scope("search")
