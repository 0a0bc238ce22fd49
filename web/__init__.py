"""Flask app factory: the search page, the JSON API, health and readiness.

Configuration: defaults, then `SEMSEARCH_*` environment variables, then `test_config`.
The search service (model + index) is built in the factory and kept on the app, never at
import. If it cannot be loaded the app still starts: `/readyz` answers 503 with the reason.
New index versions are picked up while serving (`semsearch.web.live`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from semsearch.search.service import SearchService
from semsearch.web.live import LiveIndex
from semsearch.web.observability import init_observability, record_reload
from semsearch.web.openapi import init_openapi
from semsearch.web.security import init_security

log = logging.getLogger(__name__)

EXTENSION = "semsearch"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app.

    Config keys: INDEX_DIR, MODEL, SETTINGS (search settings such as min_score),
    SEARCH_SERVICE (a ready service, for tests), WARM_UP, RELOAD_INTERVAL (seconds between
    checks for a new index version; 0 turns the watcher off), ADMIN_KEY (enables
    POST /api/admin/reload)."""
    app = Flask(__name__)
    app.config.from_mapping(
        INDEX_DIR=None,
        MODEL=None,
        SETTINGS={},
        SEARCH_SERVICE=None,
        WARM_UP=True,
        RELOAD_INTERVAL=2.0,
        ADMIN_KEY=None,
        # A search request is a few hundred bytes; anything far bigger is refused with 413.
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.config.from_prefixed_env("SEMSEARCH")
    # from_prefixed_env reads values as JSON: a key "12345" would become a number, "true" a
    # bool, "0" would turn the admin API off. A secret is taken as the exact string given.
    if "SEMSEARCH_ADMIN_KEY" in os.environ:
        app.config["ADMIN_KEY"] = os.environ["SEMSEARCH_ADMIN_KEY"]
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented order
    state: dict[str, Any] = {}
    app.extensions[EXTENSION] = state
    injected: SearchService | None = app.config["SEARCH_SERVICE"]
    if injected is not None:
        state["service"] = injected
        live = LiveIndex(state, injected.index_path, injected.settings, app.config["WARM_UP"])
    else:
        settings = {**app.config["SETTINGS"], "model": app.config["MODEL"]}
        live = LiveIndex(state, app.config["INDEX_DIR"], settings, app.config["WARM_UP"])
        live.load()
        live.watch(float(app.config["RELOAD_INTERVAL"] or 0))

    from semsearch.web import views
    from semsearch.web.render import highlight_html, source_link

    app.jinja_env.globals.update(highlight_html=highlight_html, source_link=source_link)

    app.register_blueprint(views.bp)
    views.register_error_handlers(app)
    init_security(app)
    init_observability(app)
    init_openapi(app)
    live.on_reload.append(lambda ok: record_reload(app, ok))
    return app
