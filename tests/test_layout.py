"""The web-page layout parser: metadata out, boilerplate out of the searchable text."""

from __future__ import annotations

import re

import pytest

from index.layout import is_boilerplate, parse_iso_date, parse_layout
from index.readers import read_articles
from tests.conftest import DEMO_ARTICLES, SEED, need_shared

# Wording that only boilerplate uses in these articles; none of it may reach the text.
BOILERPLATE = re.compile(
    r"@|https?://|www\.|web ?site|facebook|become a (?:supporting )?member|subscribe|disclaimer|"
    r"fair use|media inquiries|about the author|original source|copyright|articles by|"
    r"newest book|contact at|reach the author|send tips|newsletter",
    re.IGNORECASE,
)


def test_seed_metadata_and_clean_text() -> None:
    parsed = parse_layout(need_shared(SEED).read_text(encoding="utf-8"))
    assert parsed.title == "Last Major ISIS Stronghold in Syria Liberated"
    assert parsed.author == "Stephen Lendman"
    assert parsed.publication == "Global Research"
    assert parsed.published == "2017-11-09"
    assert parsed.copyright == "Copyright © Stephen Lendman, Global Research, 2017"
    assert parsed.source_note == "The original source of this article is Global Research"
    assert parsed.tags["region"] == ["Middle East & North Africa"]
    assert parsed.tags["theme"] == ["Terrorism", "US NATO War Agenda"]
    assert parsed.extra["site_url"] == "http://www.globalresearch.ca"
    assert "lendmanstephen@sbcglobal.net" in parsed.extra["contacts"]
    assert "Chicago" in parsed.extra["author_bio"]
    assert parsed.license and "cross-post" in parsed.license
    assert parsed.text.startswith("At peak strength, ISIS controlled up to 70%")
    assert parsed.text.endswith("untreated diseases and extreme deprivation.")
    assert not BOILERPLATE.search(parsed.text), BOILERPLATE.search(parsed.text)
    assert "*" not in parsed.text and "](" not in parsed.text


def test_every_demo_article_parses_with_attribution() -> None:
    articles = list(read_articles([DEMO_ARTICLES]))
    assert len(articles) == 10
    for article in articles:
        assert not hasattr(article, "reason"), article
        assert article.title and article.author and article.publication
        assert article.published and re.fullmatch(r"\d{4}-\d{2}-\d{2}", article.published)
        assert article.copyright and article.copyright.startswith("Copyright ©")
        assert article.copyright.endswith(article.published[:4])
        assert article.extra.get("site_url", "").endswith(".example")
        match = BOILERPLATE.search(article.text)
        assert match is None, f"{article.id}: {match.group()!r} left in the text"
        for name in article.author.split(" and "):
            assert name not in article.text, f"{article.id}: author bio/promo left in text"
        assert len(article.text.split()) > 300


ANOTHER_PUBLICATION = """
# Council Approves Night Bus Trial

By [Ines Varga](#) and [Tom Okoro](#)

Riverside Courier, 3 March 2021

Topics: [Transport](#), [Local](#)

Follow Ines on her blog: [inesvarga.example](https://inesvarga.example)

Email the newsroom: [news@courier.example](mailto:news@courier.example)

The city council voted on Tuesday to run two night bus routes for a six-month trial.

Drivers will be paid a night premium, and the routes will be reviewed in September.

*Ines Varga's new book is available from River Press.*

Original source: Riverside Courier
(c) Riverside Courier 2021. All rights reserved.

Join our membership scheme at [courier.example/join](https://courier.example/join)
"""


def test_same_layout_from_another_publication() -> None:
    parsed = parse_layout(ANOTHER_PUBLICATION)
    assert parsed.title == "Council Approves Night Bus Trial"
    assert parsed.author == "Ines Varga and Tom Okoro"
    assert parsed.publication == "Riverside Courier"
    assert parsed.published == "2021-03-03"
    assert parsed.tags["topics"] == ["Transport", "Local"]
    assert parsed.copyright == "(c) Riverside Courier 2021. All rights reserved."
    assert parsed.text == (
        "The city council voted on Tuesday to run two night bus routes for a six-month trial."
        "\n\nDrivers will be paid a night premium, and the routes will be reviewed in September."
    )
    assert "news@courier.example" in parsed.extra["contacts"]


@pytest.mark.parametrize(
    "block",
    [
        "VISIT MY NEW WEB SITE:",
        "[example.org](http://example.org)",
        "Contact at [me@example.org](mailto:me@example.org).",
        '*My newest book is titled "Something Long".*',
        "Subscribe to our newsletter at [example.org/news](https://example.org/news)",
    ],
)
def test_boilerplate_blocks(block: str) -> None:
    assert is_boilerplate(block)


@pytest.mark.parametrize(
    "block",
    [
        "The mayor said the bridge would reopen in May, after repairs costing $18 million.",
        "Visitors to the museum rose by a third, the director said on Monday.",
        '"We will support the families who lost their homes," the minister said.',
    ],
)
def test_prose_is_not_boilerplate(block: str) -> None:
    assert not is_boilerplate(block)


def test_dates() -> None:
    assert parse_iso_date("November 09, 2017") == "2017-11-09"
    assert parse_iso_date("2017-11-09") == "2017-11-09"
    assert parse_iso_date("9 Nov 2017") == "2017-11-09"
    assert parse_iso_date("November 2017") is None  # no day: not invented
    assert parse_iso_date("yesterday") is None
