"""The OpenAPI description at /api/openapi.json, generated from the request and response
models, and the API held to it.

Fast tests: the document is served and valid (OpenAPI 3.1 meta-schema, every component a
valid JSON Schema), it names exactly the parameters the code takes, the request schema
accepts what the server accepts and refuses what it refuses, and real responses
(successes, every documented error) match it: status documented, content type, headers,
body. Then a schema fuzzer (schemathesis, fixed seed, bounded examples) drives a real
`semsearch serve` on loopback: no 5xx, every response documented and matching its schema.
Server bugs found along the way are pinned below as strict expected failures.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from schemathesis.core.result import Err, Ok

from semsearch.search.query import FILTER_NAMES, SEARCH_PARAMS
from semsearch.search.service import SearchService
from semsearch.web import create_app
from semsearch.web.openapi import PATH, init_openapi, openapi_spec
from tests.support.servers import serve

#: Not valid JSON on purpose: Flask's from_prefixed_env would turn "12345" into an int.
ADMIN_KEY = "fuzz-admin-key"
#: The fuzzer's seed: the same cases every run. Change it to explore other cases.
FUZZ_SEED = 20261125
#: Examples per operation in the fuzzing phase (the examples and coverage phases add their
#: own deterministic cases): about 1,000 requests, 25 s on an idle 2-core machine.
FUZZ_EXAMPLES = 250
#: Examples per write operation in the fuzzing phase: each is slow to generate.
FUZZ_WRITE_EXAMPLES = 40
WRITE_OPERATIONS = ("writeArticles", "deleteArticle", "deleteArticles")
#: Examples per operation mirrored under /api/collections/{name}/ (the same views).
FUZZ_MIRRORED_EXAMPLES = 15
FUZZ_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


def make_client(app: Any) -> Any:
    init_openapi(app)  # does nothing once create_app registers the route itself
    return app.test_client()


@pytest.fixture()
def api(app: Any) -> Any:
    return make_client(app)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return openapi_spec()


# --- the document -------------------------------------------------------------------------


def test_spec_is_served(api: Any, demo_service: SearchService) -> None:
    response = api.get(PATH)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == openapi_spec(demo_service.settings)
    init_openapi(api.application)  # a second call is harmless


def test_spec_is_valid_openapi(spec: dict[str, Any]) -> None:
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.validate()  # the OpenAPI 3.1 meta-schema
    operations = list(loaded.get_all_operations())
    errors = [result.err() for result in operations if isinstance(result, Err)]
    assert not errors
    assert sorted(result.ok().label for result in operations if isinstance(result, Ok)) == [
        "DELETE /api/aliases/{name}",
        "DELETE /api/articles/{article_id}",
        "DELETE /api/collections/{name}/articles/{article_id}",
        "GET /api/aliases",
        "GET /api/articles/{article_id}",
        "GET /api/articles/{article_id}/cite",
        "GET /api/articles/{article_id}/similar",
        "GET /api/collections",
        "GET /api/collections/search",
        "GET /api/collections/{name}/articles/{article_id}",
        "GET /api/collections/{name}/articles/{article_id}/cite",
        "GET /api/collections/{name}/articles/{article_id}/similar",
        "GET /api/collections/{name}/search",
        "GET /api/openapi.json",
        "GET /api/search",
        "GET /api/suggest",
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "POST /api/admin/reload",
        "POST /api/aliases",
        "POST /api/articles",
        "POST /api/articles/delete",
        "POST /api/collections/search",
        "POST /api/collections/{name}/articles",
        "POST /api/collections/{name}/articles/delete",
        "POST /api/collections/{name}/search",
        "POST /api/search",
    ]
    for name, schema in spec["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    # Every $ref points at something.
    for ref in re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(spec)):
        node: Any = spec
        for part in ref.split("/"):
            node = node[part]


def test_spec_names_exactly_the_parameters_the_code_takes(spec: dict[str, Any]) -> None:
    search = spec["paths"]["/api/search"]
    parameters = spec["components"]["parameters"]
    names = [
        parameters[ref["$ref"].rsplit("/", 1)[1]]["name"] for ref in search["get"]["parameters"]
    ]
    assert names == list(SEARCH_PARAMS)
    body = spec["components"]["schemas"]["SearchRequest"]
    assert list(body["properties"]) == list(SEARCH_PARAMS) and body["required"] == ["q"]
    assert body["additionalProperties"] is False
    filters = spec["components"]["schemas"]["AppliedFilters"]
    assert list(filters["properties"]) == [*FILTER_NAMES, "inferred"]


def test_limits_follow_the_served_settings(demo_index: Path, fake_embedder: Any) -> None:
    service = SearchService(demo_index, fake_embedder, {"max_k": 20, "max_query_chars": 300})
    client = make_client(create_app({"TESTING": True, "SEARCH_SERVICE": service}))
    served = client.get(PATH).get_json()
    parameters = served["components"]["parameters"]
    assert parameters["k"]["schema"]["maximum"] == 20
    assert parameters["q"]["schema"]["maxLength"] == 300
    assert client.get("/api/search?q=tram&k=21").status_code == 400
    assert client.get("/api/search?q=tram&k=20").status_code == 200


#: JSON bodies the request schema allows: the server answers each with 200.
VALID_BODIES = [
    {"q": "tram"},
    {"q": "  tram   strike "},
    {"q": "tram", "k": 1},
    {"q": "tram", "k": 100},
    {"q": "tram", "mode": "keyword", "group": "article"},
    {"q": "tram", "group": None, "author": None, "published_from": None},
    {"q": "tram", "published_from": "2016", "published_to": "2016-12-31"},
    {"q": "tram", "publication": "p" * 200, "author": "okafor"},
    {"q": "x" * 4000},
]
#: Bodies the request schema refuses: the server answers each with 400 and its own message.
INVALID_BODIES = [
    ({}, "missing query"),
    ({"q": ""}, "empty query"),
    ({"q": "   "}, "empty query"),
    ({"q": 42}, "q must be a string"),
    ({"q": "x" * 4001}, "limit is 4000"),
    ({"q": "tram", "k": 0}, "k must be an integer from 1 to 100"),
    ({"q": "tram", "k": 101}, "k must be an integer from 1 to 100"),
    ({"q": "tram", "k": 2.5}, "k must be an integer from 1 to 100"),
    ({"q": "tram", "k": True}, "k must be an integer from 1 to 100"),
    ({"q": "tram", "mode": "fuzzy"}, "mode must be one of hybrid, dense, keyword"),
    ({"q": "tram", "group": "author"}, "group must be one of article"),
    ({"q": "tram", "published_from": "2017-13"}, "published_from must be a date"),
    ({"q": "tram", "published_to": "٢٠١٧"}, "published_to must be a date"),
    ({"q": "tram", "author": "a" * 201}, "author is 201 characters; the limit is 200"),
    ({"q": "tram", "publication": ["x"]}, "publication must be a string"),
    ({"q": "tram", "top_k": 3}, "unknown parameter 'top_k'"),
]


def _body_validator(spec: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [{"$ref": "#/components/schemas/SearchRequest"}],
            "components": spec["components"],
        }
    )


@pytest.mark.parametrize("body", VALID_BODIES)
def test_what_the_request_schema_allows_is_accepted(
    api: Any, spec: dict[str, Any], body: dict[str, Any]
) -> None:
    assert _body_validator(spec).is_valid(body)
    response = api.post("/api/search", json=body)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(("body", "message"), INVALID_BODIES)
def test_what_the_request_schema_refuses_is_a_bad_request(
    api: Any, spec: dict[str, Any], body: dict[str, Any], message: str
) -> None:
    assert not _body_validator(spec).is_valid(body)
    response = api.post("/api/search", json=body)
    assert response.status_code == 400
    error = response.get_json()
    assert list(error) == ["ok", "error", "status"]  # the one error shape, no library's own
    assert error["ok"] is False and error["status"] == 400 and message in error["error"]


def test_date_pattern_agrees_with_the_server(spec: dict[str, Any], client: Any) -> None:
    parameter = spec["components"]["parameters"]["published_from"]
    pattern = re.compile(parameter["schema"]["pattern"])
    samples = "2017 2017-01 2017-12-31 2017-13 2017-00 2017-1 17 2017-02-30 2017-02-32 2017/02"
    for sample in [*samples.split(), "20170", "2017-12-3", "2017-12-31T00:00"]:
        query = {"q": "tram", "published_from": sample}
        status = client.get("/api/search", query_string=query).status_code
        assert (status == 200) == bool(pattern.search(sample)), sample


# --- real responses against the document --------------------------------------------------


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_response(spec: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The response is documented for this operation and matches it: status, content type,
    headers and body (with the strictness of `additionalProperties: false`)."""
    operation = spec["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path}: {status} is not documented"
    documented = _resolve(spec, operation["responses"][status])
    for name, header in documented.get("headers", {}).items():
        header = _resolve(spec, header)
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required"), f"{name} header missing"
            continue
        if header["schema"].get("type") == "integer":
            value = int(value)
        header_validator = jsonschema_rs.validator_for(header["schema"])
        errors = [e.message for e in header_validator.iter_errors(value)]
        assert not errors, f"{name}: {errors}"
    # A response may be documented in several media types (search: JSON or format=csv).
    assert response.mimetype in documented["content"], f"{response.mimetype} is not documented"
    media_type, content = response.mimetype, documented["content"][response.mimetype]
    if media_type != "application/json":
        return
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [content["schema"]],
        "components": spec["components"],
    }
    validator = jsonschema_rs.validator_for(root)
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(response.get_json())]
    assert not errors, f"{method} {path} {status}: {errors[:5]}"


SEARCH_REQUESTS = [
    ("GET", {"query_string": {"q": "sourdough rye starter fermentation", "k": 3}}, 200),
    ("GET", {"query_string": {"q": "tram strike", "k": "5", "mode": "Dense"}}, 200),
    (
        "GET",
        {
            "query_string": {
                "q": "tram strike",
                "published_from": "2016",
                "published_to": "2016-12-31",
                "publication": "harbor ledger",
                "author": "okafor",
                "mode": "keyword",
            }
        },
        200,
    ),
    ("POST", {"json": {"q": "rye starter", "k": "2", "mode": "hybrid", "group": None}}, 200),
    ("POST", {"json": {"q": "tram", "publication": "No Such Paper"}}, 200),
    ("GET", {}, 400),
    ("GET", {"query_string": {"q": "   "}}, 400),
    ("GET", {"query_string": {"q": "x" * 4001}}, 400),
    ("GET", {"query_string": {"q": "tram", "top_k": 3}}, 400),
    ("GET", {"query_string": {"q": "tram", "k": 0}}, 400),
    ("GET", {"query_string": {"q": "tram", "mode": "fuzzy"}}, 400),
    ("GET", {"query_string": {"q": "tram", "group": "author"}}, 400),
    ("GET", {"query_string": {"q": "tram", "published_from": "2017-13"}}, 400),
    ("GET", {"query_string": {"q": "tram", "published_from": "2018", "published_to": "2017"}}, 400),
    ("GET", {"query_string": {"q": "tram", "author": "a" * 201}}, 400),
    ("POST", {"json": ["tram"]}, 400),
    ("POST", {"data": "not json", "content_type": "application/json"}, 400),
    ("POST", {"json": {"q": "tram", "k": 7.0}}, 200),  # JSON's 7.0 is the integer 7
    ("POST", {"json": {"q": "tram", "k": 7.5}}, 400),
    ("POST", {"json": {"q": "tram", "k": True}}, 400),
    ("POST", {"json": {"q": "tram", "author": 5}}, 400),
    ("POST", {"json": {"q": "x" * 70_000}}, 413),
]


@pytest.mark.parametrize(("method", "request_args", "status"), SEARCH_REQUESTS)
def test_search_responses_match_the_spec(
    api: Any, spec: dict[str, Any], method: str, request_args: dict[str, Any], status: int
) -> None:
    response = api.open("/api/search", method=method, **request_args)
    assert response.status_code == status, response.get_json()
    check_response(spec, method, "/api/search", response)


def test_grouped_search_has_also_and_matches_the_spec(api: Any, spec: dict[str, Any]) -> None:
    response = api.get("/api/search?q=tram strike drivers split shifts&k=5&group=article")
    check_response(spec, "GET", "/api/search", response)
    results = response.get_json()["results"]
    assert any("also" in hit for hit in results)
    # The spec refuses `also` on an ungrouped search: the check above has teeth.
    body = response.get_json() | {"group": None}
    root = {
        "allOf": [{"$ref": "#/components/schemas/SearchResponse"}],
        "components": spec["components"],
    }
    assert not jsonschema_rs.validator_for(root).is_valid(body)


def test_article_responses_match_the_spec(api: Any, spec: dict[str, Any]) -> None:
    hit = api.get("/api/search?q=tram strike&k=1").get_json()["results"][0]
    for article_id, status in ((hit["article"]["id"], 200), ("no-such-article", 404)):
        response = api.get(f"/api/articles/{article_id}")
        assert response.status_code == status
        check_response(spec, "GET", "/api/articles/{article_id}", response)


def test_operations_responses_match_the_spec(api: Any, spec: dict[str, Any]) -> None:
    for path in ("/healthz", "/readyz", "/metrics", PATH):
        response = api.get(path)
        assert response.status_code == 200, path
        check_response(spec, "GET", path, response)
    response = api.post("/api/admin/reload")
    assert response.status_code == 404
    check_response(spec, "POST", "/api/admin/reload", response)


def test_admin_reload_responses_match_the_spec(
    demo_service: SearchService, spec: dict[str, Any]
) -> None:
    app = create_app({"TESTING": True, "SEARCH_SERVICE": demo_service, "ADMIN_KEY": ADMIN_KEY})
    client = make_client(app)
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Bearer {ADMIN_KEY}"}, 200),
    ]:
        response = client.post("/api/admin/reload", headers=headers)
        assert response.status_code == status
        check_response(spec, "POST", "/api/admin/reload", response)


def test_unavailable_responses_match_the_spec(spec: dict[str, Any]) -> None:
    client = make_client(create_app({"TESTING": True, "INDEX_DIR": None}))
    for method, path, query in [
        ("GET", "/readyz", None),
        ("GET", "/api/search", {"q": "tram"}),
        ("POST", "/api/search", None),
    ]:
        kwargs = {"json": {"q": "tram"}} if method == "POST" else {"query_string": query}
        response = client.open(path, method=method, **kwargs)
        assert response.status_code == 503
        check_response(spec, method, path, response)


def test_rate_limited_response_matches_the_spec(
    demo_service: SearchService, spec: dict[str, Any]
) -> None:
    app = create_app({"TESTING": True, "SEARCH_SERVICE": demo_service, "RATE_LIMIT": "1/minute"})
    client = make_client(app)
    assert client.get("/api/search?q=tram").status_code == 200
    response = client.get("/api/search?q=tram")
    assert response.status_code == 429
    check_response(spec, "GET", "/api/search", response)


def test_internal_error_matches_the_spec(
    api: Any, spec: dict[str, Any], demo_service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(demo_service, "search", broken)
    response = api.get("/api/search?q=tram")
    assert response.status_code == 500 and "boom" not in response.get_data(as_text=True)
    check_response(spec, "GET", "/api/search", response)


# --- server bugs found while writing the spec (each failed before its fix) -----------------


def test_method_not_allowed_names_the_allowed_methods(api: Any) -> None:
    response = api.delete("/api/search?q=tram")
    assert response.status_code == 405
    assert response.headers.get("Allow")


def test_deeply_nested_body_is_a_bad_request(api: Any) -> None:
    body = '{"q": ' + "[" * 20_000 + "]" * 20_000 + "}"
    response = api.post("/api/search", data=body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("name", ["publication", "author"])
def test_lone_surrogate_in_a_filter_is_not_a_server_error(api: Any, name: str) -> None:
    body = json.dumps({"q": "tram", name: "\ud800"})  # ensure_ascii writes "\\ud800"
    response = api.post("/api/search", data=body, content_type="application/json")
    assert response.status_code < 500


def test_date_filter_takes_ascii_digits_only(api: Any) -> None:
    response = api.get("/api/search", query_string={"q": "tram", "published_from": "٢٠١٧"})
    assert response.status_code == 400


# --- the fuzzer against a live server ----------------------------------------------------


@pytest.mark.process
def test_fuzz_live_server(demo_index: Path, tmp_path: Path) -> None:
    """schemathesis (examples, coverage and fuzzing phases, valid and invalid inputs) against
    `semsearch serve` on loopback: no 5xx, every status, content type, header and body as
    documented. Run as its CLI: its pytest plugin's `from_fixture` fails on pytest 9.2."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[auth.openapi.apiKey]\nbearer = "{ADMIN_KEY}"\n\n'
        # Write bodies (arrays of articles, pages) are slow to generate: fewer of them.
        "[[operations]]\n"
        f"include-operation-id = {json.dumps(list(WRITE_OPERATIONS))}\n"
        f"generation.max-examples = {FUZZ_WRITE_EXAMPLES}\n\n"
        # The routes under /api/collections/{name}/ run the same views as the top-level ones
        # (fuzzed in full): a few examples each check that they are wired and documented.
        "[[operations]]\n"
        'include-operation-id-regex = "InCollection$"\n'
        f"generation.max-examples = {FUZZ_MIRRORED_EXAMPLES}\n",
        encoding="utf-8",
    )
    env = {"SEMSEARCH_ADMIN_KEY": ADMIN_KEY}
    # The key holds the write scope: the fuzzer writes and deletes, so it gets its own copy
    # of the demo index (the link and its versions folder beside it).
    shutil.copytree(demo_index.parent, tmp_path / "demo", symlinks=True)
    with serve(tmp_path / "demo" / demo_index.name, tmp_path / "server.log", env=env) as url:
        location = url + PATH
        command = [
            sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config),
            "run", location,
            "--checks", ",".join(FUZZ_CHECKS),
            "--phases", "examples,coverage,fuzzing",
            "--mode", "all",
            "--max-examples", str(FUZZ_EXAMPLES),
            "--seed", str(FUZZ_SEED),
            "--generation-database", "none",
            "--request-timeout", "30",
        ]  # fmt: skip
        print(f"schemathesis seed {FUZZ_SEED}: {' '.join(command)}")
        started = time.monotonic()
        result = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(output)
    print(f"fuzzing took {elapsed:.1f} s")
    assert result.returncode == 0, f"schemathesis found problems (seed {FUZZ_SEED}):\n{output}"
    # Every generated case passed. Warnings may remain, about the routes that take a
    # collection or alias name (the fuzzer's names are unknown: 404s and 400s, as documented).
    assert "No issues found" in output or re.search(r"(\d+) generated, \1 passed", output), output
    assert "failed" not in output.split("SUMMARY")[-1], output
