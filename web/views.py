"""HTTP routes. Each view parses input, makes one call to the search service, shapes the answer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from semsearch.errors import IndexUnavailableError, NotFoundError, SemsearchError
from semsearch.search.citation import credit_line, format_citation
from semsearch.search.query import FACET_NAMES, SEARCH_PARAMS, Limits, Query, validate_query
from semsearch.search.requests import (
    CiteRequest,
    SuggestRequest,
    article_page_model,
    similar_request_model,
    validate_request,
)
from semsearch.search.service import SearchService
from semsearch.web import feeds, navigation, reader
from semsearch.web.auth import keys_configured, require_scope
from semsearch.web.errors import error_body
from semsearch.web.models import (
    Healthy,
    IndexSummary,
    Ready,
    Reloaded,
    SuggestionItem,
    SuggestResponse,
    full_article_model,
    result_to_dict,
    similar_model,
)
from semsearch.web.navigation import page_context
from semsearch.web.served import served_index

log = logging.getLogger(__name__)

bp = Blueprint("search", __name__)


def get_service() -> SearchService:
    """The loaded service, or a 503 error. The reason (paths, files) is for operators: it is
    in the log and on /readyz, not in every search response."""
    service = served_index().service
    if service is None:
        raise IndexUnavailableError(
            "the search index is not available right now; operators: see /readyz and the log"
        )
    return service


def search_request(params: Mapping[str, Any]) -> Query:
    """The search's parameters validated against the served settings' limits (or the
    defaults while no index is loaded: a bad request is a 400 whatever the server's state)."""
    service = served_index().service
    return validate_query(params, service.settings if service is not None else None)


@bp.get("/")
def index_page() -> Any:
    """The search box; with ?q= the results, rendered on the server."""
    context = page_context(request.args)
    status = 200
    if "q" in request.args:
        # Only the search's own parameters: shared links pick up tracking ones (utm_*).
        params = {name: request.args[name] for name in SEARCH_PARAMS if name in request.args}
        # The page shows every facet; an API client asks for those it wants.
        params.setdefault("facets", ",".join(FACET_NAMES))
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
    if valid.format in feeds.FEED_TYPES:
        found = get_service().search(feeds.feed_query(valid))
        return feeds.feed_response(found, valid.format, request.url)
    if valid.format == "csv":
        return reader.results_csv(get_service().search(valid))
    return jsonify(result_to_dict(get_service().search(valid)))


@bp.get("/api/suggest")
def api_suggest() -> Any:
    """Titles and recurring phrases of the index that start with ?q=, for the search box."""
    valid = validate_request(SuggestRequest, request.args.to_dict())
    found = get_service().suggest(valid.q, valid.k)
    items = [SuggestionItem(text=s.text, kind=s.kind, weight=s.weight) for s in found]  # type: ignore[arg-type]
    return jsonify(SuggestResponse(ok=True, q=valid.q, suggestions=items).model_dump())


@bp.get("/api/articles/<path:article_id>")
def api_article(article_id: str) -> Any:
    """One article, whole: its credits, provenance, clean text and passage offsets."""
    found = get_service().article(article_id)
    return jsonify(full_article_model(found).model_dump(mode="json"))


@bp.get("/api/articles/<path:article_id>/cite")
def api_cite(article_id: str) -> Any:
    """The article's citation: ?format=text (default), apa, chicago, bibtex or csl-json."""
    fmt = validate_request(CiteRequest, request.args.to_dict()).format
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
    model = article_page_model(Limits.from_settings(service.settings))
    page = validate_request(model, request.args.to_dict())
    query, marked = page.q, None
    # A chunk of another article, or not a number: the page without a mark, not an error.
    if page.chunk is not None and page.chunk in {p[0] for p in found.passages}:
        marked = service.passage(page.chunk, query)
    article = found.article
    return render_template(
        "article.html",
        found=found,
        article=article,
        query=query,
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


def similar_k(service: SearchService) -> int:
    """The k of a more-like-this request, validated by its model (default_k when not given)."""
    model = similar_request_model(Limits.from_settings(service.settings))
    return validate_request(model, request.args.to_dict()).k


@bp.get("/api/articles/<path:article_id>/similar")
def api_similar(article_id: str) -> Any:
    """The k articles most like this one, from its stored passage vectors."""
    service = get_service()
    found = service.similar(article_id, similar_k(service))
    return jsonify(similar_model(found).model_dump(mode="json"))


@bp.get("/articles/<path:article_id>/similar")
def similar_page(article_id: str) -> Any:
    """The articles most like this one, on a page."""
    service = get_service()
    found = service.similar(article_id, similar_k(service))
    args: dict[str, Any] = request.args.to_dict()  # only k: the model refused the rest
    json_url = url_for("search.api_similar", article_id=article_id, **args)
    return render_template("similar.html", found=found, json_url=json_url)


# For the search page's pages, facets and inferred dates.
bp.add_app_template_global(navigation.search_link, "search_link")
bp.add_app_template_global(navigation.facet_link, "facet_link")
bp.add_app_template_global(navigation.facet_selected, "facet_selected")
bp.add_app_template_global(navigation.date_phrase, "date_phrase")
bp.add_app_template_global(feeds.feed_link, "feed_link")


@bp.post("/api/admin/reload")
def admin_reload() -> Any:
    """Load the index version the index link points to now (even if it is the one served).

    Needs `Authorization: Bearer <key>` with the admin scope (SEMSEARCH_ADMIN_KEY or a key
    from the keys file); without any key configured the endpoint is off."""
    if not keys_configured(current_app):
        return error_body("the admin API is off: set SEMSEARCH_ADMIN_KEY to turn it on", 404)
    require_scope("admin")  # 401, 403 or 429 in the one error shape
    served = served_index()
    reloaded = served.reload(force=True)
    served.notify_others()  # with `serve --workers N`, the other workers reload too
    service = served.service
    if not reloaded or service is None:
        problem = served.reload_error or served.error or "reload failed; see the log"
        return error_body(f"reload failed: {problem}", 503)
    summary = index_summary(service)
    return jsonify(Reloaded(ok=True, reloaded=True, index=summary).model_dump())


@bp.get("/healthz")
def healthz() -> Any:
    """The process answers."""
    return jsonify(Healthy(ok=True).model_dump())


@bp.get("/readyz")
def readyz() -> Any:
    """Ready when the index is loaded and the model warm; 503 with the reason otherwise."""
    served = served_index()
    service = served.service
    if service is None:
        return error_body(f"not ready: {served.error}", 503)
    try:
        service.check_ready()  # an engine-backed index: is the engine answering now?
    except IndexUnavailableError as exc:
        # What failed, not where: /readyz answers anyone. The engine's own error (with its
        # address) goes to the log.
        log.warning("not ready: %s (%s)", exc, exc.__cause__ or "no further detail")
        return error_body(f"not ready: {exc}", 503)
    # Still ready after a failed reload (the last good version answers), but say so.
    ready = Ready(ok=True, index=index_summary(service), reload_error=served.reload_error)
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
