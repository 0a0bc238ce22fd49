"""Security headers, a CSP the page keeps to, opt-in CORS and opt-in per-client rate limiting."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from semsearch.search.service import SearchService
from semsearch.web import create_app
from semsearch.web.security import SECURITY_EXTENSION, init_security

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
ALLOWED = "https://allowed.example"
OTHER = "https://elsewhere.example"
EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def make_app(service: Any, **config: Any) -> Flask:
    """create_app with extra config, plus init_security if the factory does not call it yet."""
    app = create_app({"TESTING": True, "SEARCH_SERVICE": service, **config})
    if not app.extensions.get(SECURITY_EXTENSION):
        init_security(app)
    return app


def make_client(service: Any, **config: Any) -> FlaskClient:
    return make_app(service, **config).test_client()


@pytest.fixture()
def secure_client(demo_service: SearchService) -> FlaskClient:
    return make_client(demo_service)


def cors_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def assert_security_headers(response: Any) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in filter(None, (part.strip() for part in csp.split(";"))):
        name, _, value = part.partition(" ")
        directives[name] = value
    assert directives.get("default-src") == "'none'"
    assert directives.get("frame-ancestors") == "'none'"
    assert "unsafe-" not in csp  # no 'unsafe-inline', no 'unsafe-eval'
    # Our own script files only (the search box's suggestions), asking only ourselves.
    assert directives.get("script-src") == "'self'"
    assert directives.get("connect-src") == "'self'"


# --- security headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/?q=sourdough rye starter", 200),
        ("/?q=", 400),
        ("/nothing-here", 404),
        ("/api/search?q=sourdough rye starter&k=2", 200),
        ("/api/search", 400),
        ("/api/nothing", 404),
        ("/healthz", 200),
        ("/readyz", 200),
        ("/static/style.css", 200),
    ],
)
def test_security_headers_on_every_response(secure_client, path, status) -> None:
    with secure_client.get(path) as response:  # static files stream: close them
        assert response.status_code == status
        assert_security_headers(response)


def test_security_headers_on_post_and_unexpected_errors(demo_service) -> None:
    post = make_client(demo_service).post("/api/search", data=b"[1]", content_type="text/plain")
    assert post.status_code == 400
    assert_security_headers(post)

    class Broken:
        """The demo service, except that every search fails unexpectedly."""

        def __getattr__(self, name: str) -> Any:
            return getattr(demo_service, name)

        def search(self, q, k, **options):
            raise RuntimeError("boom")

    client = make_client(Broken(), TESTING=False)
    for path in ("/api/search?q=bridge", "/?q=bridge"):
        response = client.get(path)
        assert response.status_code == 500
        assert_security_headers(response)


def test_templates_have_nothing_inline_for_the_policy_to_block() -> None:
    inline = re.compile(
        r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:|<link[^>]+href=\"https?:|src=",
        re.IGNORECASE,
    )
    # A script file of our own (script-src 'self'), with nothing inline, is the one exception.
    own_script = re.compile(
        r"<script src=\"\{\{ url_for\('static', filename='[a-z]+\.js'\) \}\}\" defer></script>"
    )
    for template in TEMPLATES.glob("*.html"):
        found = inline.findall(own_script.sub("", template.read_text(encoding="utf-8")))
        assert not found, f"{template.name}: {found} would break or loosen the CSP"


def test_rendered_page_needs_only_what_the_policy_allows(secure_client) -> None:
    response = secure_client.get("/?q=tram strike split shifts&group=article")
    assert response.status_code == 200
    tree = html.fromstring(response.get_data(as_text=True))
    assert tree.cssselect("li.hit"), "the page should show results"
    assert not tree.xpath("//style | //iframe | //object | //embed | //base")
    for script in tree.xpath("//script"):  # our own files only, nothing inline
        assert script.get("src", "").startswith("/static/") and not (script.text or "").strip()
    for element in tree.iter():
        for attribute in element.attrib:
            assert attribute != "style" and not attribute.startswith("on"), element.tag
    for stylesheet in tree.xpath("//link[@rel='stylesheet']/@href | //img/@src"):
        assert stylesheet.startswith("/"), stylesheet  # same origin: style-src/img-src 'self'
    for action in tree.xpath("//form/@action"):
        assert action.startswith("/"), action  # form-action 'self'
    with secure_client.get(tree.xpath("//link[@rel='stylesheet']/@href")[0]) as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        text = css.get_data(as_text=True)
    assert "@import" not in text and "url(" not in text  # nothing fetched from elsewhere


def test_init_security_twice_adds_nothing_twice(demo_service) -> None:
    app = make_app(demo_service, CORS_ORIGINS=ALLOWED)
    init_security(app)
    response = app.test_client().get("/api/search?q=rye", headers={"Origin": ALLOWED})
    assert response.headers.getlist("Content-Security-Policy") == [
        response.headers["Content-Security-Policy"]
    ]
    assert response.headers.getlist("Access-Control-Allow-Origin") == [ALLOWED]


# --- CORS ------------------------------------------------------------------------------------


def preflight(client: FlaskClient, origin: str) -> Any:
    return client.options(
        "/api/search",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_no_cors_unless_configured(secure_client) -> None:
    response = secure_client.get("/api/search?q=rye", headers={"Origin": ALLOWED})
    assert response.status_code == 200 and cors_headers(response) == {}
    answer = preflight(secure_client, ALLOWED)
    assert answer.status_code != 204 and cors_headers(answer) == {}


def test_cors_for_an_allowed_origin(demo_service) -> None:
    client = make_client(demo_service, CORS_ORIGINS=f"{ALLOWED}, http://localhost:3000")
    for origin in (ALLOWED, "http://localhost:3000"):
        get = client.get("/api/search?q=rye", headers={"Origin": origin})
        assert get.status_code == 200
        assert get.headers["Access-Control-Allow-Origin"] == origin
        assert "Origin" in get.headers.get("Vary", "")
        assert "Retry-After" in get.headers["Access-Control-Expose-Headers"]
    post = client.post("/api/search", json={"q": "rye", "k": 1}, headers={"Origin": ALLOWED})
    assert post.status_code == 200 and post.headers["Access-Control-Allow-Origin"] == ALLOWED
    # A cross-origin caller must be able to read why its request failed.
    error = client.get("/api/search?q=", headers={"Origin": ALLOWED})
    assert error.status_code == 400 and error.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_no_cors_for_another_origin_or_the_page(demo_service) -> None:
    client = make_client(demo_service, CORS_ORIGINS=ALLOWED)
    for origin in (OTHER, ALLOWED + ".evil.example", ALLOWED + ":8443", "null"):
        response = client.get("/api/search?q=rye", headers={"Origin": origin})
        assert response.status_code == 200 and cors_headers(response) == {}, origin
        # Caches must not hand this answer to the allowed origin, nor the reverse.
        assert "Origin" in response.headers.get("Vary", "")
        answer = preflight(client, origin)
        assert answer.status_code != 204 and cors_headers(answer) == {}, origin
    page = client.get("/?q=rye", headers={"Origin": ALLOWED})
    assert page.status_code == 200 and cors_headers(page) == {}


def test_preflight_for_an_allowed_origin(demo_service) -> None:
    response = preflight(make_client(demo_service, CORS_ORIGINS=ALLOWED), ALLOWED)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]
    assert response.get_data() == b""
    assert_security_headers(response)


def test_cors_any_origin(demo_service) -> None:
    client = make_client(demo_service, CORS_ORIGINS="*")
    response = client.get("/api/search?q=rye", headers={"Origin": OTHER})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight(client, OTHER).status_code == 204
    assert cors_headers(client.get("/api/search?q=rye")) == {}  # not a CORS request


def test_cors_origins_from_the_environment(demo_service, monkeypatch) -> None:
    monkeypatch.setenv("SEMSEARCH_CORS_ORIGINS", f"{OTHER},{ALLOWED}")
    client = make_client(demo_service)
    for origin in (OTHER, ALLOWED):
        response = client.get("/api/search?q=rye", headers={"Origin": origin})
        assert response.headers.get("Access-Control-Allow-Origin") == origin


@pytest.mark.parametrize("bad", ["https://allowed.example/", "allowed.example", "https://a/b"])
def test_a_malformed_origin_fails_at_start(demo_service, bad) -> None:
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        make_app(demo_service, CORS_ORIGINS=bad)


# --- rate limiting ---------------------------------------------------------------------------


def search(client: FlaskClient, address: str = "203.0.113.1", **headers: str) -> Any:
    return client.get(
        "/api/search?q=rye&k=1", environ_base={"REMOTE_ADDR": address}, headers=headers
    )


def test_no_rate_limit_by_default(secure_client) -> None:
    assert all(search(secure_client).status_code == 200 for _ in range(15))


def test_rate_limit_answers_429_with_retry_after(demo_service) -> None:
    client = make_client(demo_service, RATE_LIMIT="3/minute")
    assert [search(client).status_code for _ in range(3)] == [200, 200, 200]
    response = search(client)
    assert response.status_code == 429
    body = response.get_json()
    assert list(body) == ["ok", "error", "status"]
    assert body["ok"] is False and body["status"] == 429
    assert "3 per 1 minute" in body["error"] and "retry in" in body["error"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert_security_headers(response)
    post = client.post(
        "/api/search", json={"q": "rye"}, environ_base={"REMOTE_ADDR": "203.0.113.1"}
    )
    assert post.status_code == 429 and post.get_json()["status"] == 429


def test_page_and_api_share_one_budget_per_client(demo_service) -> None:
    client = make_client(demo_service, RATE_LIMIT="2/minute")
    page = {"environ_base": {"REMOTE_ADDR": "203.0.113.1"}}
    assert client.get("/?q=rye", **page).status_code == 200
    assert search(client).status_code == 200
    limited = client.get("/?q=rye", **page)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert "retry in" in limited.get_data(as_text=True)
    assert search(client).status_code == 429
    # The empty search box is not a search; other clients have their own budget.
    assert client.get("/", **page).status_code == 200
    assert search(client, "203.0.113.2").status_code == 200
    assert client.get("/?q=rye", environ_base={"REMOTE_ADDR": "203.0.113.3"}).status_code == 200


def test_rate_limit_resets_after_its_window(demo_service) -> None:
    client = make_client(demo_service, RATE_LIMIT="2/second")
    assert [search(client).status_code for _ in range(3)] == [200, 200, 429]
    limited = search(client)
    retry_after = int(limited.headers["Retry-After"])
    assert retry_after == 1
    time.sleep(retry_after + 0.05)
    assert search(client).status_code == 200


def test_health_and_static_are_never_limited(demo_service) -> None:
    client = make_client(demo_service, RATE_LIMIT="1/minute")
    assert search(client).status_code == 200
    assert search(client).status_code == 429
    env = {"environ_base": {"REMOTE_ADDR": "203.0.113.1"}}
    for path in ("/healthz", "/readyz", "/metrics", "/static/style.css", "/", "/api/nothing"):
        for _ in range(3):
            with client.get(path, **env) as response:
                assert response.status_code != 429, path
    assert client.options("/api/search", **env).status_code != 429


def test_rate_limit_holds_under_concurrent_requests(demo_service) -> None:
    client_app = make_app(demo_service, RATE_LIMIT="5/minute")
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def one_request() -> None:
        client = client_app.test_client()
        start.wait()
        status = search(client).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one_request) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 5 + [429] * 15


def test_rate_limit_from_the_environment(demo_service, monkeypatch) -> None:
    monkeypatch.setenv("SEMSEARCH_RATE_LIMIT", "1 per minute")
    client = make_client(demo_service)
    assert [search(client).status_code for _ in range(2)] == [200, 429]


def test_a_malformed_rate_limit_fails_at_start(demo_service) -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT"):
        make_app(demo_service, RATE_LIMIT="sixty a minute")


def test_clients_behind_trusted_proxies(demo_service) -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    # Without TRUSTED_PROXIES the header is the client's own word: ignored.
    direct = make_client(demo_service, RATE_LIMIT="1/minute")
    assert search(direct, **forwarded).status_code == 200
    assert search(direct, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 429
    proxied = make_client(demo_service, RATE_LIMIT="1/minute", TRUSTED_PROXIES=1)
    assert search(proxied, **forwarded).status_code == 200
    assert search(proxied, **forwarded).status_code == 429
    assert search(proxied, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 200
