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


@pytest.mark.parametrize("javascript", [True, False])
def test_read_in_article_marks_the_passage_and_offers_a_citation(
    browser, server_url, javascript
) -> None:
    from urllib.parse import parse_qs, urlsplit

    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1000, "height": 800}
    )
    page = context.new_page()
    page.goto(server_url + "/")
    page.fill("input[name=q]", "sourdough rye starter bakery")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("li.hit")
    read = page.locator("li.hit").first.locator("a.read")
    chunk = parse_qs(urlsplit(read.get_attribute("href") or "").query)["chunk"][0]
    read.click()
    page.wait_for_url(f"**/articles/08_century_old_rye_starter?*#c{chunk}")
    passage = page.locator(f"#c{chunk}")
    assert "marked" in (passage.get_attribute("class") or "").split()
    assert passage.locator("span.best mark").count() >= 2
    # In view, at the top: the browser jumped to the fragment (unscrolled, the passage sits
    # below the title, credits and quotation, about 400 px down).
    box = passage.bounding_box()
    assert box is not None and 0 <= box["y"] < 100, box
    assert page.locator("h1.title").bounding_box()["y"] < 0  # scrolled past the title
    apa = page.locator("#cite-apa")
    assert apa.input_value().startswith("Inglehart, R. (2024, January 19).")
    assert apa.get_attribute("readonly") is not None
    quote = page.locator(".quotation textarea").input_value()
    assert quote.startswith("“The loaf is made with a sourdough rye starter")
    assert quote.endswith("Copyright © Rosa Inglehart, Prairie Signal, 2024")
    context.close()


@pytest.mark.parametrize("javascript", [True, False])
def test_query_facet_next_page_and_weaker_matches(browser, server_url, javascript) -> None:
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(server_url + "/")
    page.fill("input[name=q]", "the harbour and the city council")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("nav.facets")
    # Narrow by a publication: its facet keeps the other publications visible.
    facet = page.locator("section.facet-publication li a").first
    publication = facet.locator(".value").inner_text()
    others = page.locator("section.facet-publication li").count()
    facet.click()
    page.wait_for_selector("section.facet-publication li.selected")
    assert "publication=" in page.url
    assert page.locator("section.facet-publication li").count() == others
    assert {p.inner_text() for p in page.locator("li.hit .publication").all()} == {publication}
    # Page through: page 2 shows other passages, and a way back.
    first_page = page.locator("li.hit blockquote").all_inner_texts()
    page.locator("nav.pages a.next").click()
    page.wait_for_selector("nav.pages a.previous")
    assert "page=2" in page.url
    second_page = page.locator("li.hit blockquote").all_inner_texts()
    assert second_page and not set(second_page) & set(first_page)
    # A longer list reaches past the strong matches: the weaker ones are set apart.
    page.goto(server_url + "/?q=sourdough+rye+starter+fermentation&k=30")
    page.wait_for_selector("h2.weaker")
    assert page.locator("ol.results.strong li.hit").count() >= 1
    assert page.locator("ol.results.weak li.hit").count() >= 1
    assert "Rye Starter" in page.locator("ol.results.strong li.hit h2.title").first.inner_text()
    context.close()


def test_search_box_offers_suggestions_under_the_csp(browser, server_url) -> None:
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))
    page.goto(server_url + "/")
    page.locator("input[name=q]").press_sequentially("wexley st", delay=30)
    options = page.locator("datalist#q-suggestions option")
    options.first.wait_for(state="attached")
    assert options.first.get_attribute("value") == (
        "Wexley Street Swing Bridge Reopens After 14 Months and $18.4 Million in Repairs"
    )
    assert page.locator("input[name=q]").get_attribute("list") == "q-suggestions"
    assert not [text for text in blocked if "Content Security Policy" in text]
    # The form still searches as typed.
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("li.hit")
    assert "q=wexley+st" in page.url
    context.close()


def test_without_javascript_the_box_has_no_suggestion_list(browser, server_url) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server_url + "/")
    assert page.locator("input[name=q]").get_attribute("list") is None
    assert page.locator("datalist").count() == 0
    context.close()
