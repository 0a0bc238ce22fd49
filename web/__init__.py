"""Flask app factory: the search page, the JSON API, health and readiness.

Configuration: defaults, then `SEMSEARCH_*` environment variables, then `test_config`.
The search service (model + index) is built in the factory and kept on the app, never at
import. If it cannot be loaded the app still starts: `/readyz` answers 503 with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from index.errors import SemsearchError
from search.service import SearchService

log = logging.getLogger(__name__)

EXTENSION = "semsearch"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app. Config keys: INDEX_DIR, MODEL, SEARCH_SERVICE (a ready service)."""
    app = Flask(__name__)
    app.config.from_mapping(INDEX_DIR=None, MODEL=None, SEARCH_SERVICE=None, WARM_UP=True)
    app.config.from_prefixed_env("SEMSEARCH")
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented order
    state: dict[str, Any] = {"service": app.config["SEARCH_SERVICE"], "error": None}
    if state["service"] is None:
        state.update(load_service(app.config))
    app.extensions[EXTENSION] = state

    from web import views
    from web.render import highlight_html, source_link

    app.jinja_env.globals.update(highlight_html=highlight_html, source_link=source_link)

    app.register_blueprint(views.bp)
    views.register_error_handlers(app)
    return app


def load_service(config: dict[str, Any]) -> dict[str, Any]:
    """Load model and index; on failure return the reason instead of raising."""
    index_dir = config.get("INDEX_DIR")
    if not index_dir:
        return {
            "service": None,
            "error": "no index configured: set SEMSEARCH_INDEX_DIR or use --index",
        }
    settings = {"model": config.get("MODEL")}
    try:
        service = SearchService.open(index_dir, settings)
        if config.get("WARM_UP", True):
            service.warm_up()
    except SemsearchError as exc:
        log.error("index not loaded: %s", exc)
        return {"service": None, "error": str(exc)}
    return {"service": service, "error": None}
