"""Request ids, the access log, /metrics and log formats: each test fails without its feature."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from semsearch.web import create_app
from semsearch.web.observability import (
    ACCESS_LOGGER,
    EXTENSION,
    PLAIN_FORMAT,
    RequestIdFilter,
    build_log_handler,
    configure_logging,
    init_observability,
    record_reload,
)
from semsearch.web.served import served_index
from semsearch.web.server import MULTIPROCESS_DIR, multiprocess_metrics_folder

HEX_ID = re.compile(r"[0-9a-f]{32}")


def observed(app: Flask) -> Flask:
    """The app with observability, whether or not create_app installs it already."""
    if not app.extensions.get(EXTENSION):
        init_observability(app)
    return app


@pytest.fixture()
def obs_client(app: Flask) -> Any:
    return observed(app).test_client()


def scrape(client: Any) -> dict[str, list[Any]]:
    """GET /metrics parsed: sample name -> samples."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def request_count(samples: dict[str, list[Any]], **labels: str) -> float:
    return sum(
        s.value
        for s in samples.get("semsearch_requests_total", [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


# -- request ids -------------------------------------------------------------------------


def test_safe_request_id_is_echoed(obs_client: Any) -> None:
    response = obs_client.get("/healthz", headers={"X-Request-ID": "abc-123_x.Y"})
    assert response.headers["X-Request-ID"] == "abc-123_x.Y"


@pytest.mark.parametrize("unsafe", ["abc\ndef", "x" * 200, "<script>", "a b", "", "é"], ids=repr)
def test_unsafe_request_id_is_replaced(obs_client: Any, unsafe: str) -> None:
    # environ_overrides: the test client itself refuses a newline in a header value.
    response = obs_client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": unsafe})
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


def test_request_id_is_generated_when_absent(obs_client: Any) -> None:
    first = obs_client.get("/healthz").headers["X-Request-ID"]
    second = obs_client.get("/healthz").headers["X-Request-ID"]
    assert HEX_ID.fullmatch(first) and HEX_ID.fullmatch(second)
    assert first != second


def test_request_id_on_errors_and_unknown_paths(obs_client: Any) -> None:
    assert HEX_ID.fullmatch(obs_client.get("/api/search").headers["X-Request-ID"])
    assert obs_client.get("/nope", headers={"X-Request-ID": "r1"}).headers["X-Request-ID"] == "r1"


def test_init_twice_changes_nothing(app: Flask) -> None:
    observed(app)
    metrics = app.extensions[EXTENSION]
    init_observability(app)
    assert app.extensions[EXTENSION] is metrics
    assert app.test_client().get("/metrics").status_code == 200


# -- logs --------------------------------------------------------------------------------


def test_access_log_line_has_id_and_no_query(
    obs_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    obs_client.get("/api/search?q=my+private+question&k=2", headers={"X-Request-ID": "req-42"})
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 1
    record = lines[0]
    message = record.getMessage()
    assert message.startswith("GET /api/search 200 ")
    assert "ms" in message and "req-42" in message
    assert "private" not in message and "?" not in message
    assert record.request_id == "req-42"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]


def test_access_log_escapes_control_characters_in_path(
    obs_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    obs_client.get("/x%0AGET%20/forged")
    (record,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert "\n" not in record.getMessage()
    assert "/x\\nGET /forged" in record.getMessage()


def test_view_log_records_carry_the_request_id(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/test-log")
    def test_log() -> str:
        logging.getLogger("web.test").warning("inside the view")
        return "ok"

    client = observed(app).test_client()
    # configure_logging puts this filter on its handler; caplog's handler stands in for it.
    caplog.handler.addFilter(RequestIdFilter())
    client.get("/test-log", headers={"X-Request-ID": "view-7"})
    logging.getLogger("web.test").warning("outside any request")
    inside, outside = [r for r in caplog.records if r.name == "web.test"]
    assert inside.request_id == "view-7"  # type: ignore[attr-defined]
    assert outside.request_id == "-"  # type: ignore[attr-defined]


def test_json_log_lines_parse_with_request_id(app: Flask) -> None:
    stream = io.StringIO()
    handler = build_log_handler(json_format=True, stream=stream)
    logger = logging.getLogger("semsearch.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @app.get("/test-json-log")
    def test_json_log() -> str:
        logger.info("hello %s", "json")
        return "ok"

    try:
        observed(app).test_client().get("/test-json-log", headers={"X-Request-ID": "json-1"})
        logger.info("no request")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "hello json"
    assert inside["request_id"] == "json-1"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "semsearch.test.json"
    assert "timestamp" in inside
    assert outside["request_id"] == "-"


@pytest.fixture()
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logging")
@pytest.mark.parametrize("json_format", [False, True])
def test_configure_logging_installs_one_handler_with_ids(json_format: bool) -> None:
    configure_logging(logging.INFO, json_format)
    root = logging.getLogger()
    (handler,) = root.handlers
    assert root.level == logging.INFO
    assert any(isinstance(f, RequestIdFilter) for f in handler.filters)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    assert handler.filter(record)
    assert handler.formatter is not None
    line = handler.formatter.format(record)
    if json_format:
        assert json.loads(line)["request_id"] == "-"
    else:
        assert handler.formatter._fmt == PLAIN_FORMAT
        assert line.endswith("INFO x [-]: msg")


# -- metrics -----------------------------------------------------------------------------


def test_metrics_count_requests_by_endpoint_and_status(obs_client: Any) -> None:
    for _ in range(3):
        assert obs_client.get("/api/search?q=tram strike").status_code == 200
    assert obs_client.get("/api/search").status_code == 400
    assert obs_client.get("/no/such/page/12345").status_code == 404
    samples = scrape(obs_client)
    assert request_count(samples, endpoint="search.api_search", method="GET", status="200") == 3
    assert request_count(samples, endpoint="search.api_search", status="400") == 1
    assert request_count(samples, endpoint="unknown", status="404") == 1
    # Raw paths never become labels.
    assert not any("/no/such" in str(s.labels) for v in samples.values() for s in v)
    counts = {
        s.labels["le"]: s.value
        for s in samples["semsearch_request_seconds_bucket"]
        if s.labels["endpoint"] == "search.api_search"
    }
    assert counts["+Inf"] == 4
    assert {"0.005", "10.0"} <= set(counts)
    (total,) = [
        s
        for s in samples["semsearch_request_seconds_count"]
        if s.labels["endpoint"] == "search.api_search"
    ]
    assert total.value == 4


def test_unknown_methods_do_not_become_labels(obs_client: Any) -> None:
    obs_client.open("/healthz", method="BREW")
    samples = scrape(obs_client)
    methods = {s.labels["method"] for s in samples["semsearch_requests_total"]}
    assert "BREW" not in methods and "other" in methods


def test_index_gauges_match_the_manifest(obs_client: Any, demo_service: Any) -> None:
    samples = scrape(obs_client)
    manifest = demo_service.manifest
    assert samples["semsearch_index_loaded"][0].value == 1
    assert samples["semsearch_index_chunks"][0].value == manifest.counts["chunks"]
    assert samples["semsearch_index_articles"][0].value == manifest.counts["articles"]
    (info,) = samples["semsearch_index_info"]
    assert info.value == 1
    assert info.labels == {"version": manifest.version, "model": manifest.model["name"]}


def test_index_gauges_follow_the_current_service(obs_client: Any, app: Flask) -> None:
    assert scrape(obs_client)["semsearch_index_loaded"][0].value == 1
    served_index(app).service = None  # what a failed reload leaves
    samples = scrape(obs_client)
    assert samples["semsearch_index_loaded"][0].value == 0
    assert "semsearch_index_chunks" not in samples


def test_index_loaded_is_zero_without_an_index() -> None:
    app = observed(create_app({"TESTING": True, "INDEX_DIR": "/nonexistent"}))
    samples = scrape(app.test_client())
    assert samples["semsearch_index_loaded"][0].value == 0
    assert "semsearch_index_chunks" not in samples
    assert "semsearch_index_info" not in samples


def test_reloads_are_counted(obs_client: Any, app: Flask) -> None:
    def reloads(result: str) -> float:
        samples = scrape(obs_client)["semsearch_reloads_total"]
        return next(s.value for s in samples if s.labels["result"] == result)

    assert reloads("ok") == 0 and reloads("error") == 0
    record_reload(app, ok=True)
    record_reload(app, ok=True)
    record_reload(app, ok=False)
    assert reloads("ok") == 2 and reloads("error") == 1


def test_two_apps_do_not_share_counts(demo_service: Any) -> None:
    first = observed(create_app({"TESTING": True, "SEARCH_SERVICE": demo_service}))
    second = observed(create_app({"TESTING": True, "SEARCH_SERVICE": demo_service}))
    first_client, second_client = first.test_client(), second.test_client()
    for _ in range(2):
        first_client.get("/healthz")
    assert request_count(scrape(first_client), endpoint="search.healthz") == 2
    assert request_count(scrape(second_client), endpoint="search.healthz") == 0


def test_each_multiprocess_run_gets_a_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --workers N` keeps its metrics files in a new folder inside the one given,
    removed at the end with the variable put back, so no run adds another's counts."""
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    with multiprocess_metrics_folder() as folder:
        assert os.environ[MULTIPROCESS_DIR] == folder
        assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(folder)]
    assert list(tmp_path.iterdir()) == []
    assert os.environ[MULTIPROCESS_DIR] == str(tmp_path)
    monkeypatch.delenv(MULTIPROCESS_DIR)
    with multiprocess_metrics_folder() as folder:
        assert os.path.isdir(folder)
    assert not os.path.exists(folder) and MULTIPROCESS_DIR not in os.environ
