"""The page in real headless Chromium (Debian's), driven by Playwright, over a real server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import FAKE_MIN_SCORE

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(demo_index, tmp_path_factory) -> Iterator[str]:
    """`semsearch serve` in its own process (waitress, as in production) on loopback."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "semsearch",
        "serve",
        "--index",
        str(demo_index),
        "--model",
        "hashing-256",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SEMSEARCH_MIN_SCORE": str(FAKE_MIN_SCORE)}
    with (
        log_path.open("wb") as log,
        subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env) as server,
    ):
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"semsearch serve did not become ready: {output}")
            time.sleep(0.2)
        try:
            yield url
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run the README's test command")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("javascript", [True, False])
def test_type_query_submit_and_see_attributed_result(browser, server_url, javascript) -> None:
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(server_url + "/")
    page.fill("input[name=q]", "sourdough rye starter fermentation")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("li.hit")
    first = page.locator("li.hit").first
    assert "Rye Starter" in first.locator("h2.title").inner_text()
    assert first.locator(".publication").inner_text() == "Prairie Signal"
    assert "Copyright © Rosa Inglehart" in first.locator(".copyright").inner_text()
    assert first.locator("blockquote mark").count() > 0
    assert "q=sourdough" in page.url
    context.close()
