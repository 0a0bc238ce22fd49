"""One error shape for the whole app: `{"ok": false, "error": ..., "status": N}`.

Known errors (`semsearch.errors`) keep their HTTP status; Flask's own (404, 405, 413, ...)
keep theirs; anything else is a 500 whose traceback goes to the log, never to the client.
API paths answer in JSON; the page answers with the page, the error in it.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from semsearch.errors import SemsearchError
from semsearch.web.models import Error
from semsearch.web.navigation import page_context

log = logging.getLogger(__name__)

#: Paths whose errors are answered in JSON, not HTML.
JSON_PREFIXES = ("/api/", "/healthz", "/readyz")


def error_body(message: str, status: int) -> tuple[Any, int]:
    """The one JSON error shape."""
    return jsonify(Error(ok=False, error=message, status=status).model_dump()), status


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def register_error_handlers(app: Flask) -> None:
    """Known errors keep their status; anything else is a 500 whose traceback goes to the log."""

    @app.errorhandler(SemsearchError)
    def handle_known(exc: SemsearchError) -> Any:
        if _wants_json():
            return error_body(str(exc), exc.status)
        context = page_context(request.args)
        context["error"] = str(exc)
        return render_template("index.html", **context), exc.status

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException) -> Any:
        if _wants_json():
            response, status = error_body(f"{exc.name}: {exc.description}", exc.code or 500)
            for name, value in exc.get_headers():  # Allow on a 405, Retry-After, ...
                if name.lower() != "content-type":
                    response.headers[name] = value
            return response, status
        return exc

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Any:
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _wants_json():
            return error_body("internal error: the server log has the details", 500)
        return render_template("error.html"), 500
