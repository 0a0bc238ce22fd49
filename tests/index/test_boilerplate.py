"""Site boilerplate out: footer shapes from any article, repeated blocks learned per source."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.boilerplate import (
    footer_shape,
    remove_learned_boilerplate,
    source_of,
    strip_footer_shapes,
)
from tests.conftest import DATASETS, need_shared

FOOTER = """The council voted to repair the old bridge before the spring floods.

Comment Policy: Please keep comments relevant to the topic. Multiple links go to spam.

All posts are opinions meant to foster comment, study under the "fair use doctrine" \
in Sec. 107 of U.S. Code Title 17.

Filed under: Bridges, Council Tagged: floods, repairs

Follow @RiverTown

If you enjoyed this, click the 'Like' button below.

Copyright © 2019 River Town Gazette"""


def article(
    n: int, text: str, publication: str | None = "River Town Gazette", url: str | None = None
) -> Article:
    return Article(id=f"a{n}", title=f"T{n}", text=text, publication=publication, url=url)


def test_footer_shapes_leave_and_attribution_stays() -> None:
    clean, counts = strip_footer_shapes(article(1, FOOTER))
    assert clean.text == "The council voted to repair the old bridge before the spring floods."
    assert clean.copyright == "Copyright © 2019 River Town Gazette"
    assert "fair use doctrine" in clean.extra["fair_use_notice"]
    assert counts["comment_policy"] == 1 and counts["tag_list"] == 1 and counts["follow_me"] == 1


def test_prose_about_the_same_things_stays() -> None:
    prose = (
        "The judge said fair use was a matter for the jury, and the comment policy of the "
        "newspaper was not on trial. Follow the money, she said."
    )
    assert footer_shape(prose) is None
    clean, counts = strip_footer_shapes(article(1, prose))
    assert clean.text == prose and not counts


def test_source_is_publication_else_domain() -> None:
    assert source_of(article(1, "x", publication="The Post")) == "the post"
    assert (
        source_of(article(1, "x", publication=None, url="https://www.post.example/a"))
        == "post.example"
    )
    assert source_of(article(1, "x", publication=None)) is None


NAMES = ["alder", "birch", "cedar", "dogwood", "elm", "fir", "ginkgo", "hazel", "ivy", "juniper"]


def stories(count: int, plug: str) -> list[Article]:
    """Stories told in their own words (numbers alone do not tell blocks apart)."""
    return [
        article(
            n,
            f"Story of the {NAMES[n % 10]} grove {NAMES[n // 10]}.\n\n{plug}\n\n"
            f"More on {NAMES[n % 10]} {NAMES[n // 10 % 10]}.",
        )
        for n in range(count)
    ]


def test_repeated_blocks_are_learned_per_source() -> None:
    plug = "Get the Gazette in your inbox every morning at 6 am."
    others = [
        article(100 + n, f"Elsewhere {n}.\n\n{plug}", publication="Other Paper") for n in range(2)
    ]
    cleaned, report = remove_learned_boilerplate(stories(10, plug) + others)
    assert all(plug not in a.text for a in cleaned[:10])
    assert all("Story of the" in a.text and "More on" in a.text for a in cleaned[:10])
    assert all(plug in a.text for a in cleaned[10:])  # two articles of another source: too few
    assert report.blocks_removed == {"river town gazette": 10}
    assert "river town gazette: 10" in report.summary()


def test_numbers_do_not_hide_a_template() -> None:
    arts = [
        article(
            n,
            f"Body {NAMES[n]} of its own words.\n\n"
            f"Posted 2019-0{n % 9 + 1}-1{n % 9} | {n} comments",
        )
        for n in range(6)
    ]
    cleaned, report = remove_learned_boilerplate(arts)
    assert all("comments" not in a.text for a in cleaned) and report.articles_changed == 6


def test_a_block_in_one_article_stays() -> None:
    arts = [article(n, f"Unique paragraph {NAMES[n % 10]} {NAMES[n // 10]}.") for n in range(20)]
    cleaned, report = remove_learned_boilerplate(arts)
    assert cleaned == arts and report.blocks_removed == {}


def test_thresholds_are_a_fraction_of_the_source() -> None:
    plug = "Sponsored: visit our partner shop."
    arts = stories(3, plug) + [
        article(10 + n, f"Plain story {NAMES[n % 10]} {NAMES[n // 10 % 10]} {NAMES[n // 100]}.")
        for n in range(297)
    ]
    cleaned, _ = remove_learned_boilerplate(arts)
    assert sum(plug in a.text for a in cleaned) == 3  # 3 of 300 is under 2 %


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=8))
def test_never_empties_an_article(lines: list[str]) -> None:
    text = "\n".join(lines)
    if not text.strip():
        return
    clean, _ = strip_footer_shapes(article(1, text))
    assert clean.text.strip()
    cleaned, _ = remove_learned_boilerplate([article(n, text) for n in range(5)])
    assert all(a.text.strip() for a in cleaned)


def test_fakenewscorpus_footer_leaves_the_text() -> None:
    path = need_shared(DATASETS / "fakenewscorpus-sample" / "news_sample.csv")
    from semsearch.index.ingest.readers import read_csv

    arts = [a for a in read_csv(path) if isinstance(a, Article)]
    stripped = [strip_footer_shapes(a)[0] for a in arts]
    cleaned, report = remove_learned_boilerplate(stripped)
    for phrase in (
        "All posts are opinions meant to foster comment",
        "fair use doctrine",
        "Comment Policy:",
        "Filed under:",
        "Follow @",
        "'Like' button",
    ):
        assert not any(phrase in a.text for a in cleaned), phrase
    assert report.blocks_removed.get("beforeitsnews.com", 0) > 0
    assert len(cleaned) == len(arts) and all(a.text.strip() for a in cleaned)


def test_a_sign_off_paragraph_of_several_prompts_is_a_footer_however_long() -> None:
    sign_off = (
        "If for some reason you actually liked this post, click the “Like” button below. "
        "If you feel like someone else needs to see this, click the Share Button at the "
        "bottom of the post and heap this upon some undeserving soul. "
        + "And as sad as this thought may be, it may be remotely possible that we please you " * 4
        + "enough that you subscribe via the Email subscription on the right hand panel."
    )
    assert len(sign_off.split()) > 100 and footer_shape(sign_off) == "share_prompt"
    prose = (
        "The committee debated whether the share button on the ballot machine confused "
        "voters, and the clerk agreed to replace it before the spring election."
    )
    assert footer_shape(prose) is None
