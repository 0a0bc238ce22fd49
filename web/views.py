"""HTTP routes. Each view parses input, makes one call to the search service, shapes the answer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from semsearch.errors import BadQueryError, IndexUnavailableError, NotFoundError, SemsearchError
from semsearch.search.citation import FORMATS as CITATION_FORMATS
from semsearch.search.citation import credit_line, format_citation
from semsearch.search.query import (
    FILTER_NAMES,
    MODES,
    SEARCH_PARAMS,
    SORTS,
    Limits,
    Query,
    validate_query,
)
from semsearch.search.service import SearchService
from semsearch.settings import get_setting
from semsearch.web import EXTENSION, navigation, reader
from semsearch.web.auth import keys_configured, require_scope
from semsearch.web.render import (
    Error,
    Healthy,
    IndexSummary,
    Ready,
    Reloaded,
    full_article_model,
    result_to_dict,
    similar_model,
)
from semsearch.web.server import notify_siblings

log = logging.getLogger(__name__)

bp = Blueprint("search", __name__)

#: Paths whose errors are answered in JSON, not HTML.
JSON_PREFIXES = ("/api/", "/healthz", "/readyz")


def get_service() -> SearchService:
    """The loaded service, or a 503 error. The reason (paths, files) is for operators: it is
    in the log and on /readyz, not in every search response."""
    state = current_app.extensions[EXTENSION]
    if state["service"] is None:
        raise IndexUnavailableError(
            "the search index is not available right now; operators: see /readyz and the log"
        )
    service: SearchService = state["service"]
    return service


def error_body(message: str, status: int) -> tuple[Any, int]:
    """The one JSON error shape."""
    return jsonify(Error(ok=False, error=message, status=status).model_dump()), status


def search_request(params: Mapping[str, Any]) -> Query:
    """The search's parameters validated against the served settings' limits (or the
    defaults while no index is loaded: a bad request is a 400 whatever the server's state)."""
    service = current_app.extensions[EXTENSION].get("service")
    return validate_query(params, service.settings if service is not None else None)


def page_context(args: Any) -> dict[str, Any]:
    """What the page template needs besides the result: the form's current values (or the
    configured defaults) and the link to the same search in JSON."""
    # Only known parameters reach url_for: its own (_external, _scheme, endpoint) must not.
    json_args = {name: args[name] for name in SEARCH_PARAMS if args.get(name)}
    return {
        "q": args.get("q", ""),
        "k": args.get("k") or get_setting("default_k"),
        "form": {name: args.get(name, "") for name in ("mode", "group", *FILTER_NAMES, "sort")},
        "sorts": SORTS,
        "args": args,
        "default_mode": get_setting("mode"),
        "modes": MODES,
        "max_k": get_setting("max_k"),
        "json_url": url_for("search.api_search", **json_args),
        "result": None,
        "error": None,
    }


@bp.get("/")
def index_page() -> Any:
    """The search box; with ?q= the results, rendered on the server."""
    context = page_context(request.args)
    status = 200
    if "q" in request.args:
        # Only the search's own parameters: shared links pick up tracking ones (utm_*).
        params = {name: request.args[name] for name in SEARCH_PARAMS if name in request.args}
        try:
            valid = search_request(params)
            context["result"] = get_service().search(valid)
        except SemsearchError as exc:
            context["error"] = str(exc)
            status = exc.status
    return render_template("index.html", **context), status


@bp.route("/api/search", methods=["GET", "POST"])
def api_search() -> Any:
    """JSON search: GET ?q=&k= or POST {"q": ..., "k": ...}."""
    if request.method == "POST":
        try:
            body = request.get_json(force=True, silent=True)
        except RecursionError:  # json.loads on `[[[[…` 20,000 deep; silent does not catch it
            return error_body("request body is nested too deeply to be a search", 400)
        if not isinstance(body, dict):
            return error_body(
                'request body must be a JSON object such as {"q": "tidal power", "k": 5}', 400
            )
        params: Mapping[str, Any] = body
    else:
        params = request.args.to_dict()  # a repeated parameter: its first value, as before
    valid = search_request(params)
    if valid.format == "csv":
        return reader.results_csv(get_service().search(valid))
    return jsonify(result_to_dict(get_service().search(valid)))


@bp.get("/api/articles/<path:article_id>")
def api_article(article_id: str) -> Any:
    """One article, whole: its credits, provenance, clean text and passage offsets."""
    found = get_service().article(article_id)
    return jsonify(full_article_model(found).model_dump(mode="json"))


@bp.get("/api/articles/<path:article_id>/cite")
def api_cite(article_id: str) -> Any:
    """The article's citation: ?format=text (default), apa, chicago, bibtex or csl-json."""
    unknown = sorted(set(request.args) - {"format"})
    if unknown:
        raise BadQueryError(f"unknown parameter {unknown[0][:40]!r}; known: format")
    fmt = request.args.get("format", "").strip().lower() or "text"
    if fmt not in CITATION_FORMATS:
        raise BadQueryError(
            f"format must be one of {', '.join(CITATION_FORMATS)}; got {request.args['format']!r}"
        )
    article = get_service().article(article_id).article
    return reader.citation_response(article, fmt, format_citation(article, fmt))


@bp.get("/articles/<path:article_id>")
def article_page(article_id: str) -> Any:
    """The article, whole, on a page: credits, citations and its addressable passages
    (#c{chunk_id}); from a hit (?q=...&chunk=N) that passage and its best sentence marked."""
    service = get_service()
    try:
        found = service.article(article_id)
    except NotFoundError as exc:
        return render_template("article.html", found=None, error=str(exc)), 404
    query = request.args.get("q", "")[: int(get_setting("max_query_chars", service.settings))]
    chunk = request.args.get("chunk", "").strip()
    marked = None
    # A chunk of another article, or not a number: the page without a mark, not an error.
    if chunk.isascii() and chunk.isdigit() and int(chunk) in {p[0] for p in found.passages}:
        marked = service.passage(int(chunk), query)
    article = found.article
    return render_template(
        "article.html",
        found=found,
        article=article,
        query=" ".join(query.split()),
        marked=marked,
        segments=reader.article_segments(found, marked),
        quotation=reader.best_quotation(marked, article),
        citations=reader.citations(article),
        json_url=url_for("search.api_article", article_id=article.id),
        error=None,
    )


# For the search page's "Cite" on each hit.
bp.add_app_template_global(reader.best_quotation, "best_quotation")
bp.add_app_template_global(credit_line, "credit_line")


def similar_k(args: Mapping[str, str], service: SearchService) -> int:
    """The k of a similar-articles request (default_k when not given); BadQueryError else."""
    unknown = sorted(set(args) - {"k"})
    if unknown:
        raise BadQueryError(f"unknown parameter {unknown[0][:40]!r}; known: k")
    limits = Limits.from_settings(service.settings)
    given = args.get("k", "").strip()
    if not given:
        return limits.default_k
    if not (given.isascii() and given.isdigit() and 1 <= int(given) <= limits.max_k):
        raise BadQueryError(f"k must be an integer from 1 to {limits.max_k}, got {given[:40]!r}")
    return int(given)


@bp.get("/api/articles/<path:article_id>/similar")
def api_similar(article_id: str) -> Any:
    """The k articles most like this one, from its stored passage vectors."""
    service = get_service()
    found = service.similar(article_id, similar_k(request.args, service))
    return jsonify(similar_model(found).model_dump(mode="json"))


@bp.get("/articles/<path:article_id>/similar")
def similar_page(article_id: str) -> Any:
    """The articles most like this one, on a page."""
    service = get_service()
    found = service.similar(article_id, similar_k(request.args, service))
    args: dict[str, Any] = request.args.to_dict()  # only k: similar_k refused the rest
    json_url = url_for("search.api_similar", article_id=article_id, **args)
    return render_template("similar.html", found=found, json_url=json_url)


# For the search page's pages, facets and inferred dates.
bp.add_app_template_global(navigation.search_link, "search_link")
bp.add_app_template_global(navigation.facet_link, "facet_link")
bp.add_app_template_global(navigation.facet_selected, "facet_selected")
bp.add_app_template_global(navigation.date_phrase, "date_phrase")


@bp.post("/api/admin/reload")
def admin_reload() -> Any:
    """Load the index version the index link points to now (even if it is the one served).

    Needs `Authorization: Bearer <key>` with the admin scope (SEMSEARCH_ADMIN_KEY or a key
    from the keys file); without any key configured the endpoint is off."""
    if not keys_configured(current_app):
        return error_body("the admin API is off: set SEMSEARCH_ADMIN_KEY to turn it on", 404)
    require_scope("admin")  # 401, 403 or 429 in the one error shape
    state = current_app.extensions[EXTENSION]
    reloaded = state["live"].reload(force=True)
    notify_siblings()  # with `serve --workers N`, the other workers reload too
    if not reloaded:
        problem = state["reload_error"] or state["error"] or "reload failed; see the log"
        return error_body(f"reload failed: {problem}", 503)
    summary = index_summary(state["service"])
    return jsonify(Reloaded(ok=True, reloaded=True, index=summary).model_dump())


@bp.get("/healthz")
def healthz() -> Any:
    """The process answers."""
    return jsonify(Healthy(ok=True).model_dump())


@bp.get("/readyz")
def readyz() -> Any:
    """Ready when the index is loaded and the model warm; 503 with the reason otherwise."""
    state = current_app.extensions[EXTENSION]
    service = state["service"]
    if service is None:
        return error_body(f"not ready: {state['error']}", 503)
    try:
        service.check_ready()  # an engine-backed index: is the engine answering now?
    except IndexUnavailableError as exc:
        # What failed, not where: /readyz answers anyone. The engine's own error (with its
        # address) goes to the log.
        log.warning("not ready: %s (%s)", exc, exc.__cause__ or "no further detail")
        return error_body(f"not ready: {exc}", 503)
    # Still ready after a failed reload (the last good version answers), but say so.
    ready = Ready(ok=True, index=index_summary(service), reload_error=state.get("reload_error"))
    return jsonify(ready.model_dump())


def index_summary(service: SearchService) -> IndexSummary:
    """The served index version, as /readyz and the admin API report it."""
    manifest = service.manifest
    return IndexSummary(
        version=manifest.version,
        chunks=manifest.counts["chunks"],
        articles=manifest.counts["articles"],
        model=manifest.model["name"],
    )


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
