"""Request ids, access log, Prometheus metrics and log set-up for the web app.

`init_observability(app)` gives every request an id (kept on `flask.g`, sent back in
`X-Request-ID`, put on log records by `RequestIdFilter`), writes one access line per request
on the `semsearch.access` logger, counts requests and their durations, and serves
`GET /metrics`. Metrics live in a registry owned by the app, never the process-wide default
one, so several apps in one process (tests) keep separate counts. The index gauges are
computed at scrape time from the app's current service, so they follow a reload.
`configure_logging` is for the CLI: one stderr handler, plain or JSON lines, with request ids.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from semsearch.web.served import served_index
from semsearch.web.workers import is_worker

EXTENSION = "semsearch_observability"
REQUEST_ID_HEADER = "X-Request-ID"
ACCESS_LOGGER = "semsearch.access"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
#: What `generate_latest` writes; prometheus_client itself answers with this type when the
#: scraper does not negotiate another one.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds: a keyword query answers in milliseconds, a cold dense one can take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Methods counted by name; any other is "other", since clients can send any token.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_log = logging.getLogger(ACCESS_LOGGER)


@dataclass(frozen=True)
class Metrics:
    """The app's registry and the metric objects that code updates."""

    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    reloads: Counter


def init_observability(app: Flask) -> None:
    """Install request ids, access log, metrics and `GET /metrics`; a second call does nothing."""
    if app.extensions.get(EXTENSION) is not None:
        return
    metrics = _create_metrics(app)
    app.extensions[EXTENSION] = metrics
    # First before_request to run and (after_request runs in reverse) last after_request, so
    # the id exists for every other hook and the status logged is the one sent.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish_request)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=_metrics_view, methods=["GET"])


def record_reload(app: Flask, ok: bool) -> None:
    """Count one index reload, `result="ok"` or `"error"`; a no-op before init_observability."""
    metrics: Metrics | None = app.extensions.get(EXTENSION)
    if metrics is not None:
        metrics.reloads.labels(result="ok" if ok else "error").inc()


def current_request_id() -> str:
    """The id of the request being handled, or "-" outside a request."""
    if not has_request_context():
        return "-"
    request_id: str | None = g.get("request_id")
    if request_id is None:  # a hook ahead of ours failed: give the request an id anyway
        request_id = g.request_id = _choose_request_id(request.headers.get(REQUEST_ID_HEADER))
    return request_id


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` (the current request's id, "-" outside one); drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def build_log_handler(json_format: bool, stream: Any = None) -> logging.Handler:
    """A stream handler (default stderr), plain or JSON lines, each record with its request id."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    formatter: logging.Formatter
    if json_format:
        from pythonjsonlogger.json import JsonFormatter

        formatter = JsonFormatter(
            ["levelname", "name", "message", "request_id"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    else:
        formatter = logging.Formatter(PLAIN_FORMAT, defaults={"request_id": "-"})
    handler.setFormatter(formatter)
    return handler


def configure_logging(level: int, json_format: bool) -> None:
    """Send all logging to one stderr handler, plain or JSON lines, replacing any earlier set-up."""
    logging.basicConfig(level=level, handlers=[build_log_handler(json_format)], force=True)


def _choose_request_id(incoming: str | None) -> str:
    # The id is echoed into a header and written into every log line: anything but a short
    # plain token (newlines, markup, megabytes) is replaced rather than trusted.
    if incoming is not None and _SAFE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _start_request() -> None:
    g.request_id = _choose_request_id(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    request_id = current_request_id()
    # Time to build the response; a streamed body is still being sent after this.
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    response.headers[REQUEST_ID_HEADER] = request_id
    # The endpoint name, never the raw path, so labels stay few whatever clients request.
    endpoint = request.endpoint or "unknown"
    method = request.method if request.method in KNOWN_METHODS else "other"
    metrics: Metrics = current_app.extensions[EXTENSION]
    metrics.requests.labels(
        endpoint=endpoint, method=method, status=str(response.status_code)
    ).inc()
    metrics.request_seconds.labels(endpoint=endpoint).observe(seconds)
    # The path only: the query string carries what people search for, which may be private.
    path = _printable(request.path)
    access_log.info(
        "%s %s %s %.1fms id=%s",
        method,
        path,
        response.status_code,
        seconds * 1000,
        request_id,
        extra={
            "method": method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": request_id,
        },
    )
    return response


def _printable(text: str) -> str:
    # The path arrives percent-decoded: an encoded newline must not start a forged log line.
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _metrics_view() -> Response:
    metrics: Metrics = current_app.extensions[EXTENSION]
    registry = metrics.registry
    if _multiprocess():
        # Every worker's counts, from the files they all write; the index gauges are this
        # worker's (they all serve the same version, give or take a reload interval).
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(IndexCollector(current_app))
    return Response(generate_latest(registry), content_type=METRICS_CONTENT_TYPE)


def _multiprocess() -> bool:
    """True in a worker of `semsearch serve --workers N` (see `semsearch.web.server`), whose
    master gives the workers a fresh folder for their metrics."""
    return is_worker() and bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def _create_metrics(app: Flask) -> Metrics:
    if _multiprocess() and values.ValueClass is values.MutexValue:
        # prometheus_client picks where values live when it is first imported, which in
        # the CLI is before `serve` sets the folder; it asks for the choice to be made
        # before the first metric is built, as here (see its `values.get_value_class`).
        values.ValueClass = values.get_value_class()
    registry = CollectorRegistry()
    requests = Counter(
        "semsearch_requests",
        "HTTP requests answered, by Flask endpoint, method and status.",
        ["endpoint", "method", "status"],
        registry=registry,
    )
    request_seconds = Histogram(
        "semsearch_request_seconds",
        "Time to answer an HTTP request, by Flask endpoint.",
        ["endpoint"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    reloads = Counter(
        "semsearch_reloads",
        "Index reloads attempted, by result (ok or error).",
        ["result"],
        registry=registry,
    )
    for result in ("ok", "error"):  # both series exist from the start, at 0
        reloads.labels(result=result)
    registry.register(IndexCollector(app))
    return Metrics(registry, requests, request_seconds, reloads)


class IndexCollector(Collector):
    """Index gauges read at scrape time from the app's current service (reloads swap it)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def describe(self) -> Iterable[Metric]:
        # Nothing to describe up front: collect() must not run at registration, before
        # create_app has stored the service state.
        return []

    def collect(self) -> Iterable[Metric]:
        service = served_index(self.app).service  # read once: a reload may swap it meanwhile
        loaded = GaugeMetricFamily(
            "semsearch_index_loaded", "1 when a search index is loaded, else 0."
        )
        loaded.add_metric([], 1 if service is not None else 0)
        yield loaded
        if service is None:
            return  # no counts rather than zeros that look like an empty index
        manifest = service.manifest
        yield GaugeMetricFamily(
            "semsearch_index_chunks",
            "Passages in the loaded index.",
            value=manifest.counts["chunks"],
        )
        yield GaugeMetricFamily(
            "semsearch_index_articles",
            "Articles in the loaded index.",
            value=manifest.counts["articles"],
        )
        info = GaugeMetricFamily(
            "semsearch_index_info",
            "The loaded index: build version and model name (value always 1).",
            labels=["version", "model"],
        )
        info.add_metric([str(manifest.version), str(manifest.model.get("name", ""))], 1)
        yield info
