"""The page in real headless Chromium (Debian's), driven by Playwright, over a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.support.servers import serve

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


@pytest.fixture(scope="module")
def server_url(demo_index, tmp_path_factory) -> Iterator[str]:
    with serve(demo_index, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


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
