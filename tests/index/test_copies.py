"""Syndicated copies: one article kept, the others recorded as its copies; re-reads not counted."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.copies import find_copies, shingles

WORDS = [
    "river",
    "bridge",
    "council",
    "flood",
    "harvest",
    "ferry",
    "market",
    "school",
    "winter",
    "road",
    "mill",
    "lantern",
]


def prose(seed: int, paragraphs: int = 8) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=40)) + "." for _ in range(paragraphs)]


def story(n: int, paras: list[str], pub: str, date: str = "2024-01-02") -> Article:
    return Article(
        id=f"{pub}-{n}",
        title="Flood",
        text="\n\n".join(paras),
        publication=pub,
        published=date,
        url=f"https://{pub}.example/{n}",
        origin=f"{pub}.jsonl:{n}",
    )


def test_a_syndicated_copy_is_attached_to_the_original() -> None:
    paras = prose(1)
    original = story(1, paras, "herald", "2024-01-01")
    copy = story(
        7,
        ["By Ann Lee, The Courier", *paras[:5], *paras[6:], "© 2024 The Courier"],
        "courier",
        "2024-01-03",
    )
    other = story(2, prose(2), "herald")
    kept, copies, report = find_copies([copy, other, original])
    assert [a.id for a in kept] == ["herald-2", "herald-1"]  # input order, original kept
    assert [c.id for c in copies["herald-1"]] == ["courier-7"]
    listed = kept[1].extra["copies"][0]
    assert listed["publication"] == "courier" and listed["url"] == "https://courier.example/7"
    assert listed["published"] == "2024-01-03" and listed["origin"] == "courier.jsonl:7"
    assert (report.kept, report.copies, report.rereads) == (2, 1, 0)


def test_an_exact_reread_is_not_a_copy() -> None:
    original = story(1, prose(1), "herald")
    kept, copies, report = find_copies(
        [original, original, replace(original, origin="again.jsonl:1")]
    )
    assert kept == [original] and copies == {} and report.rereads == 2


def test_the_same_text_elsewhere_is_a_copy() -> None:
    original = story(1, prose(1), "herald")
    verbatim = replace(original, id="c", publication="courier", url="https://courier.example/c")
    kept, copies, _ = find_copies([original, verbatim])
    assert kept[0].id == original.id and copies[original.id][0].similarity == 1.0


def test_different_stories_on_one_subject_stay_apart() -> None:
    shared = prose(9, 1)
    arts = [story(n, [*prose(100 + n), *shared], f"p{n}") for n in range(6)]
    kept, copies, _ = find_copies(arts)
    assert len(kept) == 6 and copies == {}


def test_shingles_ignore_case_but_keep_numbers() -> None:
    """Stories written to one pattern differ in their figures: they are not copies."""
    assert shingles("The 12 Fast Cars of 2020 went") == shingles("the 12 fast cars of 2020 went")
    assert shingles("The 12 Fast Cars of 2020 went") != shingles("the 7 fast cars of 1999 went")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=8))
def test_any_texts_partition_cleanly(texts: list[str]) -> None:
    arts = [
        Article(id=str(i), title="", text=t, url=f"https://x.example/{i}")
        for i, t in enumerate(texts)
    ]
    kept, copies, report = find_copies(arts)
    copied = {c.id for found in copies.values() for c in found}
    assert len(kept) + len(copied) + report.rereads == len(arts)
    assert not copied & {a.id for a in kept}
