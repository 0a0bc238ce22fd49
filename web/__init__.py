"""Flask app factory: the search page, the JSON API, health and readiness.

Configuration comes from the settings registry (`semsearch.settings`, documented in
docs/settings.md): defaults, then `SEMSEARCH_*` environment variables, then `test_config`.
The search service (model + index) is built in the factory and kept on the app, never at
import. If it cannot be loaded the app still starts: `/readyz` answers 503 with the reason.
New index versions are picked up while serving. The app holds one typed object, the
`ServedIndex` (`semsearch.web.served`), read through `served_index()`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from semsearch.search.service import SearchService
from semsearch.settings import check_settings, config_settings, explicit_setting, settings_in
from semsearch.web.collections import (
    COLLECTIONS,
    collections_of,
    init_collections,
    make_collections,
)
from semsearch.web.observability import init_observability, record_reload
from semsearch.web.openapi import init_openapi
from semsearch.web.security import init_security
from semsearch.web.served import EXTENSION, ServedIndex

log = logging.getLogger(__name__)

#: The settings the app keeps in app.config, each as `NAME` (MAX_CONTENT_LENGTH is Flask's).
APP_SETTINGS = ("model", *(setting.name for setting in settings_in("server")))


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app.

    Config keys: every server setting as `NAME` (INDEX_DIR, RELOAD_INTERVAL, ADMIN_KEY,
    RATE_LIMIT, CORS_ORIGINS, TRUSTED_PROXIES, ... see docs/settings.md) and MODEL; SETTINGS
    (search settings such as min_score, by lower-case name); SEARCH_SERVICE (a ready
    service, for tests); any other Flask key (TESTING). A bad value raises ValueError."""
    given = dict(test_config or {})
    app = Flask(__name__)
    app.config.from_mapping(SETTINGS={}, SEARCH_SERVICE=None)
    # Each value parsed by its type, so a malformed rate or origin stops the start. The admin
    # key is text: taken as the exact string given ("0" or "12345" stay strings).
    app.config.update(config_settings(APP_SETTINGS, given))
    app_keys = {name.upper() for name in APP_SETTINGS}
    app.config.update({key: value for key, value in given.items() if key not in app_keys})
    check_settings(app.config["SETTINGS"])
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented order
    injected: SearchService | None = app.config["SEARCH_SERVICE"]
    if injected is not None:
        served = ServedIndex(
            injected.index_path, injected.settings, app.config["WARM_UP"], service=injected
        )
        app.extensions[EXTENSION] = served
    elif app.config.get("INDEXES") or app.config["INDEXES_FOLDER"]:
        # Several collections (semsearch.web.collections): the default one is `served`.
        # Each is answered by the model that built it, unless one was chosen for all.
        chosen = given.get("MODEL") or explicit_setting("model")
        settings = {**app.config["SETTINGS"], **({"model": chosen} if chosen else {})}
        make_collections(app, settings, None)
        collections_of(app).watch(app.config["RELOAD_INTERVAL"])
        served = app.extensions[EXTENSION]
    else:
        settings = {**app.config["SETTINGS"], "model": app.config["MODEL"]}
        served = ServedIndex(app.config["INDEX_DIR"], settings, app.config["WARM_UP"])
        app.extensions[EXTENSION] = served
        served.load()
        served.watch(app.config["RELOAD_INTERVAL"])
    if COLLECTIONS not in app.extensions:
        make_collections(app, {}, served)

    from semsearch.web import views
    from semsearch.web.errors import register_error_handlers
    from semsearch.web.render import highlight_html, source_link

    app.jinja_env.globals.update(highlight_html=highlight_html, source_link=source_link)

    app.register_blueprint(views.bp)
    register_error_handlers(app)
    init_security(app)
    init_observability(app)
    init_openapi(app)
    from semsearch.web.writes import init_writes  # writes over HTTP and the API keys

    init_writes(app)
    init_collections(app)
    for each in collections_of(app).served().values():
        each.on_reload.append(lambda ok: record_reload(app, ok))
    return app
