"""The web-page layout parser: metadata out, boilerplate out of the searchable text."""

from __future__ import annotations

import re

import pytest

from semsearch.index.ingest.layout import is_boilerplate, parse_iso_date, parse_layout
from semsearch.index.ingest.readers import read_articles
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


PROSE_THAT_LOOKS_LIKE_LAYOUT = """
# Court Rules on Streaming Case

By [Lee Chan](https://leechan.example/about)

Metro Post, May 02, 2020

Source: https://metropost.example/2020/05/streaming-ruling

Published: 2 May 2020 | Updated: 3 May 2020

By the end of 2019, the studio had already lost two similar cases.

Update: The studio said on Monday it would appeal.

Copyright lawyers said the ruling would reshape the industry for a decade.

More by luck than planning, the hearing finished a day early.

Watch: the studio's shares fell 4% after the ruling.

Visit the courthouse at noon and you will see the queue of reporters.

"Anyone with questions can write to the clerk at clerk@court.example," the judge said.

Email from a reader, jo@example.org, prompted our reporting.

He refused.

The Associated Press counted at least four similar suits this year.

Lee Chan said the vote was close.
"""


def test_prose_shaped_like_layout_lines_stays_in_the_text() -> None:
    parsed = parse_layout(PROSE_THAT_LOOKS_LIKE_LAYOUT)
    assert parsed.author == "Lee Chan"
    assert parsed.url == "https://metropost.example/2020/05/streaming-ruling"
    assert parsed.published == "2020-05-02"
    assert parsed.copyright is None and parsed.tags == {}
    paragraphs = parsed.text.split("\n\n")
    assert len(paragraphs) == 11, paragraphs
    assert paragraphs[0].startswith("By the end of 2019")
    assert paragraphs[-1] == "Lee Chan said the vote was close."


def test_pathological_markup_parses_in_linear_time() -> None:
    """Unmatched brackets and delimiters once made the regexes quadratic (13 s for 20 KB);
    200 KB now takes a fraction of a second, so a generous bound cannot flake."""
    import time

    for text in ("[x](" * 50_000, "snake_case_" * 20_000, "a@" * 100_000, "w" * 200_000):
        started = time.perf_counter()
        parse_layout(text)
        assert time.perf_counter() - started < 10
