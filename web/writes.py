"""Writes over HTTP: articles created, replaced and deleted while the server serves.

`POST /api/articles` takes an NDJSON body (`application/x-ndjson`, one article a line), a
JSON array (`application/json`) or one page's raw HTML (`text/html` with `?url=`); articles
are upserted by id through the index's writer (`semsearch.index.live.open_writer`).
`DELETE /api/articles/{id}` deletes one, `POST /api/articles/delete` several. Every answer
lists every item, in order: created, updated, unchanged, deleted or refused with the reason
and its line. Reading a body into items is `semsearch.index.ingest.pushed`; the views check
the key (`semsearch.web.auth`, write scope), the limits, make one call to the writer and
shape the answer. After a write that published a new version, this worker serves it before
answering (and asks its siblings to), so a write is searchable once acknowledged.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from semsearch.errors import (
    BadQueryError,
    IndexUnavailableError,
    NotFoundError,
    StorageFullError,
)
from semsearch.index.ingest.pushed import (
    BodyError,
    Item,
    TooManyItems,
    id_problem,
    read_html_page,
    read_json_array,
    read_ndjson,
)
from semsearch.index.live import LiveWriter, WriteOutcome, WriteReport, open_writer
from semsearch.search.backends import writes_to
from semsearch.web.auth import init_auth, require_scope
from semsearch.web.models import WriteCounts, WriteItem, WriteResponse
from semsearch.web.served import served_index

log = logging.getLogger(__name__)

bp = Blueprint("writes", __name__)

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
JSON_TYPES = ("application/json",)
HTML_TYPES = ("text/html",)
_WRITER_LOCK = threading.Lock()


def init_writes(app: Flask) -> None:
    """Register the write endpoints and the key checks (`semsearch.web.auth`)."""
    app.register_blueprint(bp)
    init_auth(app)


def get_writer() -> LiveWriter:
    """The served index's writer, opened on first use; 503 when there is none to write."""
    served = served_index()
    writer: LiveWriter | None = served.writer
    if writer is not None:
        return writer
    with _WRITER_LOCK:
        if served.writer is None:
            service = served.service
            index = served.index
            if service is None or index is None:
                raise IndexUnavailableError(
                    "the index is not available right now; operators: see /readyz and the log"
                )
            # A live index served from an engine is written in its live directory, whose
            # writes reach the engine too (semsearch.index.live.engine).
            target = writes_to(index)
            if target is None:
                raise IndexUnavailableError(
                    "this server answers from a search engine: write with `semsearch add "
                    "--index URI` on the machine that holds its source directory"
                )
            served.writer = open_writer(target, service.embedder, service.settings)
        writer = served.writer
    assert writer is not None
    return writer


def _body() -> bytes:
    """The request body, read under the write size limit (a JSON 413 over it)."""
    request.max_content_length = int(current_app.config["MAX_WRITE_BYTES"])
    data = request.get_data(cache=False)
    if not data.strip():
        raise BadQueryError("the body is empty: send articles (NDJSON, a JSON array or HTML)")
    return data


def _most_items() -> int:
    return int(current_app.config["MAX_WRITE_ITEMS"])


def _check_params(known: Sequence[str]) -> None:
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        allowed = ", ".join(known) if known else "none"
        raise BadQueryError(f"unknown parameter {unknown[0][:40]!r}; known: {allowed}")


def _read_items() -> list[Item]:
    """The request's items by its Content-Type."""
    mimetype = request.mimetype
    _check_params(("url", "id"))  # a page's; the other bodies carry their own
    if mimetype in HTML_TYPES:
        given_id = request.args.get("id")
        problem = id_problem(given_id) if given_id is not None else None
        if problem:
            return [Item(0, problem=f"id: {problem}", id=given_id)]
        charset = request.mimetype_params.get("charset")
        item = read_html_page(_body(), request.args.get("url"), given_id, charset)
        return [Item(0, item.article, item.problem, item.id)]  # 0: one page, no line
    # Items are counted before any is read: a page in an item costs an HTML parse.
    try:
        if mimetype in NDJSON_TYPES:
            return read_ndjson(_body(), _most_items())
        if mimetype in JSON_TYPES:
            return read_json_array(_body(), _most_items())
    except TooManyItems as exc:
        raise RequestEntityTooLarge(str(exc)) from None
    except BodyError as exc:
        raise BadQueryError(str(exc)) from None
    raise UnsupportedMediaType(
        "send application/x-ndjson (one article a line), application/json (an array of "
        "articles) or text/html (a page, with ?url=)"
    )


def _answer(items: list[Item], report: WriteReport | None) -> Any:
    """Every item in the order sent, each with its outcome: its own refusal, else the
    writer's outcome for its id (paired in order, so an id sent twice gets both of its)."""
    outcomes: list[WriteOutcome | None] = [
        None if item.problem is None else WriteOutcome(item.id or "", "refused", item.problem)
        for item in items
    ]
    waiting: dict[str, deque[int]] = defaultdict(deque)
    for place, item in enumerate(items):
        if item.problem is None and item.id is not None:
            waiting[item.id].append(place)
    for outcome in report.outcomes if report is not None else ():
        queue = waiting.get(outcome.id)
        if queue:
            outcomes[queue.popleft()] = outcome
    listed = []
    for item, found in zip(items, outcomes, strict=True):
        # The writer did not answer for it: never claim it was written.
        outcome = found or WriteOutcome(item.id or "", "refused", "no outcome from the writer")
        listed.append(
            WriteItem(
                id=outcome.id or None,
                status=outcome.status,  # type: ignore[arg-type]  # the writer's statuses
                reason=outcome.reason,
                line=outcome.line or item.line or None,
            )
        )
    counts = dict.fromkeys(WriteCounts.model_fields, 0)
    for entry in listed:
        counts[entry.status] += 1
    generation = report.generation if report is not None else 0
    body = WriteResponse(ok=True, generation=generation, counts=WriteCounts(**counts), items=listed)
    return jsonify(body.model_dump())


def _serve_new_version() -> None:
    """Serve what the write published now, here and in the sibling workers."""
    served = served_index()
    if served.reload():
        served.notify_others()


def _disk_full(exc: OSError) -> StorageFullError:
    log.error("write failed, nothing written: %s", exc)
    return StorageFullError(
        "the index's disk is full: nothing of this request was written; the index served "
        "is unchanged"
    )


@bp.post("/api/articles")
def write_articles() -> Any:
    """Upsert articles by id: NDJSON, a JSON array, or one page's HTML with its URL."""
    require_scope("write")
    writer = get_writer()
    items = _read_items()
    articles = [item.article for item in items if item.problem is None and item.article]
    report = None
    if articles:
        try:
            report = writer.upsert(articles)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_full(exc) from exc
            raise
        _serve_new_version()
    return _answer(items, report)


def _delete(ids: list[Item]) -> Any:
    writer = get_writer()
    wanted = [item.id for item in ids if item.problem is None and item.id is not None]
    report = None
    if wanted:
        try:
            report = writer.delete(wanted)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_full(exc) from exc
            raise
        _serve_new_version()
    return _answer(ids, report)


@bp.delete("/api/articles/<path:article_id>")
def delete_article(article_id: str) -> Any:
    """Delete one article; 404 when it is not in the index."""
    require_scope("write")
    _check_params(())
    problem = id_problem(article_id)
    if problem:
        raise BadQueryError(f"id: {problem}")
    response = _delete([Item(0, id=article_id)])
    item = response.get_json()["items"][0]
    if item["status"] == "refused" and item["reason"] == "not in the index":
        raise NotFoundError(f"no article with id {article_id[:200]!r} in the index")
    return response


@bp.post("/api/articles/delete")
def delete_articles() -> Any:
    """Delete several articles: a JSON array of ids, or {"ids": [...]}; each answered."""
    require_scope("write")
    _check_params(())
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType('send application/json: ["id", ...] or {"ids": [...]}')
    try:
        body = json.loads(_body().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadQueryError('the body must be JSON: ["id", ...] or {"ids": [...]}') from None
    if isinstance(body, dict) and set(body) == {"ids"}:
        body = body["ids"]
    if not isinstance(body, list):
        raise BadQueryError('the body must be a JSON array of ids or {"ids": [...]}')
    if len(body) > _most_items():
        raise RequestEntityTooLarge(str(TooManyItems(len(body), _most_items())))
    ids = []
    for place, value in enumerate(body, start=1):
        if not isinstance(value, str):
            ids.append(Item(place, problem="an id must be a string"))
        elif problem := id_problem(value):
            ids.append(Item(place, problem=problem, id=value[:512]))
        else:
            ids.append(Item(place, id=value))
    return _delete(ids)
