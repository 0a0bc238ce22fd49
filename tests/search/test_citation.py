"""Citations built from stored metadata (`semsearch.search.citation`): every format, the
missing fields left out, the quirks of citeproc-py worked around."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.search.citation import (
    FORMATS,
    MAX_KEY_CHARS,
    bibtex_entry,
    bibtex_key,
    cite,
    credit_line,
    csl_item,
    format_citation,
    quotation,
    styled_citation,
)
from semsearch.search.service import ArticleRef

FULL = ArticleRef(
    id="08_rye",
    title="A Century-Old Rye Starter Returns to the Ovens of Oskaloo",
    author="Rosa Inglehart",
    publication="Prairie Signal",
    published="2024-01-19",
    url="https://prairiesignal.example/rye",
    site_url="https://prairiesignal.example",
    copyright="Copyright © Rosa Inglehart, Prairie Signal, 2024",
    license="Reposting allowed with credit",
    source_note="The original source of this article is Prairie Signal",
    tags={"theme": ["Food"]},
)
ONLY_TITLE = ArticleRef(
    id="t",
    title="Only a Title",
    author=None,
    publication=None,
    published=None,
    url=None,
    site_url=None,
    copyright=None,
    license=None,
    source_note=None,
)


def test_credit_line_has_every_field_in_order() -> None:
    assert credit_line(FULL) == (
        "Rosa Inglehart, “A Century-Old Rye Starter Returns to the Ovens of Oskaloo”, "
        "Prairie Signal, 2024-01-19, https://prairiesignal.example/rye. "
        "Copyright © Rosa Inglehart, Prairie Signal, 2024"
    )


def test_apa_and_chicago_through_csl_styles() -> None:
    assert styled_citation(FULL, "apa") == (
        "Inglehart, R. (2024, January 19). A Century-Old Rye Starter Returns to the Ovens of "
        "Oskaloo. Prairie Signal. https://prairiesignal.example/rye"
    )
    # Full given name, period inside the quotation marks (en-US), no stray "Edition."
    assert styled_citation(FULL, "chicago") == (
        "Inglehart, Rosa. “A Century-Old Rye Starter Returns to the Ovens of Oskaloo.” "
        "Prairie Signal, January 19, 2024. https://prairiesignal.example/rye."
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_article_with_only_a_title_still_cites(fmt: str) -> None:
    text = format_citation(ONLY_TITLE, fmt)
    assert "Only a Title" in text
    assert "None" not in text and "null" not in text


def test_only_a_title_in_each_style() -> None:
    citations = cite(ONLY_TITLE)
    assert citations.text == "“Only a Title”."
    # APA: the title in the author's place, once (citeproc-py alone would print it twice).
    assert citations.apa == "Only a Title. (n.d.)."
    assert citations.chicago == "“Only a Title,” n.d."
    assert citations.bibtex == "@article{only,\n  title = {{Only a Title}}\n}\n"
    assert json.loads(citations.csl_json) == [
        {"id": "t", "type": "article-newspaper", "title": "Only a Title"}
    ]


@pytest.mark.parametrize(
    "missing", ["author", "publication", "published", "url", "copyright", "license"]
)
def test_missing_fields_are_left_out_everywhere(missing: str) -> None:
    article = replace(FULL, **{missing: None})
    for fmt in FORMATS:
        text = format_citation(article, fmt)
        assert "None" not in text, (missing, fmt, text)
        assert ", ," not in text and "()" not in text, (missing, fmt, text)


def test_only_web_urls_are_cited() -> None:
    article = replace(FULL, url="javascript:alert(1)")
    for fmt in FORMATS:
        assert "javascript" not in format_citation(article, fmt)
    assert "URL" not in csl_item(replace(FULL, url="file:///etc/passwd"))


def test_csl_json_item() -> None:
    item = csl_item(FULL)
    assert item["author"] == [{"family": "Inglehart", "given": "Rosa"}]
    assert item["container-title"] == "Prairie Signal"
    assert item["issued"] == {"date-parts": [[2024, 1, 19]]}
    assert item["URL"] == "https://prairiesignal.example/rye"
    assert item["license"] == FULL.copyright
    assert csl_item(replace(FULL, published="2019-03"))["issued"] == {"date-parts": [[2019, 3]]}


def test_bylines_with_several_people_and_organisations() -> None:
    article = replace(FULL, author="By Ana Ruiz and Lee, Kim; Reuters")
    assert csl_item(article)["author"] == [
        {"family": "Ruiz", "given": "Ana"},
        {"family": "Lee", "given": "Kim"},
        {"literal": "Reuters"},
    ]
    assert "author = {Ruiz, Ana and Lee, Kim and {Reuters}}" in bibtex_entry(article)


def test_bibtex_entry_and_escaping() -> None:
    entry = bibtex_entry(FULL)
    assert entry.startswith("@article{inglehart2024century,\n")
    assert "  month = jan,\n" in entry and "  date = {2024-01-19},\n" in entry
    assert "  journal = {Prairie Signal},\n" in entry
    tricky = replace(FULL, title="50% of R&D_budgets {cut} #1 $")
    assert r"title = {{50\% of R\&D\_budgets \{cut\} \#1 \$}}" in bibtex_entry(tricky)


def test_bibtex_key_is_ascii() -> None:
    key = bibtex_key(replace(FULL, author="Zoë Ångström"))
    assert key == "angstrom2024century"


def test_quotation_carries_its_attribution() -> None:
    assert quotation("The loaf is  made\nwith rye.", FULL) == (
        "“The loaf is made with rye.” — " + credit_line(FULL)
    )


def test_markup_in_metadata_is_data_not_markup() -> None:
    evil = replace(FULL, title="<script>alert(1)</script> Evil", author=None)
    for fmt in FORMATS:
        assert "<script>alert(1)</script>" in format_citation(evil, fmt)  # escaped by the page


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format must be one of text, apa, chicago"):
        format_citation(FULL, "mla")


def test_names_in_chinese_script_stay_whole_and_in_order() -> None:
    article = replace(FULL, author="王小明、李华", title="北京的地铁", publication="示例日报")
    assert csl_item(article)["author"] == [{"literal": "王小明"}, {"literal": "李华"}]
    apa = styled_citation(article, "apa")
    assert "王小明" in apa and "李华" in apa and "北京的地铁" in apa
    # a Cyrillic name is a name like any other: family name last, given name abbreviated
    russian = replace(FULL, author="Лев Толстой")
    assert csl_item(russian)["author"] == [{"family": "Толстой", "given": "Лев"}]
    assert "Толстой, Л." in styled_citation(russian, "apa")
    assert "Толстой" in bibtex_entry(russian)


# --- BibTeX read back by a real parser ------------------------------------------------------

#: Our escapes, undone in one pass (each starts with a backslash; a backslash of the text is
#: always escaped, so the pass cannot misread one).
_UNESCAPE = re.compile(
    r"\\(textbackslash\{\}|textbraceleft\{\}|textbraceright\{\}|textasciitilde\{\}"
    r"|textasciicircum\{\}|[{}%&$#_])"
)
_UNESCAPED = {
    "textbackslash{}": "\\",
    "textbraceleft{}": "{",
    "textbraceright{}": "}",
    "textasciitilde{}": "~",
    "textasciicircum{}": "^",
}


def unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(1)), value)


def parse_bibtex(entry: str):
    """The one entry of `entry` as pybtex reads it, strict: any problem raises."""
    from pybtex import errors
    from pybtex.database import parse_string

    errors.set_strict_mode(True)
    database = parse_string(entry, "bibtex")
    assert len(database.entries) == 1
    return next(iter(database.entries.values()))


FIELD_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from("{}\\%&$#_~^@=,\"' \n\tand"), st.characters(codec="utf-8")),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(title=FIELD_TEXT, author=FIELD_TEXT, publication=FIELD_TEXT)
def test_bibtex_reads_back_whole_whatever_the_text(
    title: str, author: str, publication: str
) -> None:
    article = replace(FULL, title=title, author=author or None, publication=publication or None)
    entry = parse_bibtex(bibtex_entry(article))
    assert unescape(entry.fields["title"].removeprefix("{").removesuffix("}")) == " ".join(
        title.split()
    )
    if publication.strip():
        assert unescape(entry.fields["journal"]) == " ".join(publication.split())
    names = csl_item(article).get("author", [])
    assert len(entry.persons.get("author", [])) == len(names)
    assert entry.fields["year"] == "2024" and entry.fields["url"] == FULL.url


@pytest.mark.parametrize(
    "title",
    [
        r"Unbalanced } brace \ and \end{document} { harbour",
        "Close brace only } harbour levy tidal",
        "{{{ open only",
        "} { inside out",
    ],
)
def test_the_titles_that_broke_bibtex_read_back_whole(title: str) -> None:
    entry = parse_bibtex(bibtex_entry(replace(FULL, title=title)))
    assert unescape(entry.fields["title"][1:-1]) == title
    assert [str(p) for p in entry.persons["author"]] == ["Inglehart, Rosa"]


def test_the_bibtex_key_and_download_name_are_bounded() -> None:
    long = replace(FULL, author="Z" * 200_000, title="T" * 200_000)
    assert len(bibtex_key(long)) == MAX_KEY_CHARS == 64
    bare = replace(FULL, author=None, title="", published=None, id="é" * 1000)
    assert bibtex_key(bare) == "e" * 64
