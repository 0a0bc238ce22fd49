"""What an article may hold (`semsearch.index.ingest.limits`): ids every link reaches, and a
limit on every field, enforced at ingest with a reported skip that the build counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.ingest.limits import FIELD_LIMITS, MAX_TAGS, id_problem
from tests.support.fake_embedder import HashingEmbedder

TEXT = "The harbour levy was cut. Tidal power rose again."


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def reasons(report) -> dict[str, str]:
    """Skipped records by their line in the file: the reason."""
    return {s.origin.rsplit(":", 1)[1]: s.reason for s in report.skipped}


@pytest.mark.parametrize(
    ("article_id", "problem"),
    [
        ("news/similar", "ends in '/similar', which is the address of the similar articles"),
        ("news/cite", "ends in '/cite', which is the address of the citation of 'news'"),
        ("line\nbreak", "holds the invisible or control character U+000A"),
        ("nul\x00", "holds the invisible or control character U+0000"),
        ("rtl\u202eevil", "holds the invisible or control character U+202E"),
        ("a//b", "has an empty, '.' or '..' part between slashes"),
        ("a/../b", "has an empty, '.' or '..' part between slashes"),
        ("/lead", "has an empty, '.' or '..' part between slashes"),
        ("trail/", "has an empty, '.' or '..' part between slashes"),
        ("back\\slash", "holds a backslash"),
        ("x" * 257, "id is 257 characters, over 256"),
    ],
)
def test_ids_no_link_reaches_are_refused_with_the_reason(article_id: str, problem: str) -> None:
    assert problem in (id_problem(article_id) or "")


@pytest.mark.parametrize(
    "article_id",
    ["news", "similar", "cite", "news/similar/2", "2024/tide mill", "é/ü?#%&+=;", "x" * 256],
)
def test_valid_ids(article_id: str) -> None:
    assert id_problem(article_id) is None


def test_bad_ids_are_skipped_at_ingest_and_counted(tmp_path: Path) -> None:
    records = [
        {"id": "news", "title": "News", "text": TEXT},
        {"id": "news/similar", "title": "Similar", "text": TEXT},
        {"id": "news/cite", "title": "Cite", "text": TEXT},
        {"id": "line\nbreak", "title": "Line", "text": TEXT},
    ]
    source = write_jsonl(tmp_path / "a.jsonl", records)
    report = build_index([source], tmp_path / "idx", HashingEmbedder(dimension=32))
    assert report.articles == 1
    skipped = reasons(report)
    assert sorted(skipped) == ["2", "3", "4"]
    assert skipped["2"].startswith("id 'news/similar' ends in '/similar'")
    assert skipped["4"].startswith("id 'line\\nbreak' holds the invisible or control character")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["counts"]["skipped"] == 3


def test_a_ten_million_character_csv_title_is_skipped(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "text"])
        writer.writerow(["big", "T" * 10_000_000, TEXT])
        writer.writerow(["fine", "Fine", TEXT])
    report = build_index([source], tmp_path / "idx", HashingEmbedder(dimension=32))
    assert report.articles == 1
    assert reasons(report) == {"2": "title is 10,000,000 characters, over the limit of 2,000"}


@pytest.mark.parametrize(
    ("field", "limit"),
    # source_note is read from a page's layout only: see the test after this one.
    [(n, limit) for n, limit in FIELD_LIMITS.items() if n not in ("id", "text", "source_note")],
)
def test_every_field_has_a_limit(tmp_path: Path, field: str, limit: int) -> None:
    value = "https://x.example/" + "p" * limit if field == "url" else "v" * (limit + 1)
    records = [
        {"id": "over", "title": "Over", "text": TEXT, field: value},
        {"id": "at", "title": "At", "text": TEXT, field: value[:limit]},
    ]
    source = write_jsonl(tmp_path / "a.jsonl", records)
    report = build_index([source], tmp_path / "idx", HashingEmbedder(dimension=32))
    assert report.articles == 1
    shown = f"{len(value):,}"
    assert reasons(report) == {"1": f"{field} is {shown} characters, over the limit of {limit:,}"}


def test_limits_on_tags_source_notes_and_extra() -> None:
    from semsearch.index.ingest.articles import Article
    from semsearch.index.ingest.limits import article_problem

    base = Article(id="a", title="A", text=TEXT)
    many = Article(id="a", title="A", text=TEXT, tags={"theme": ["t"] * (MAX_TAGS + 1)})
    assert article_problem(base) is None
    assert article_problem(many) == "101 tags, over the limit of 100"
    long_tag = Article(id="a", title="A", text=TEXT, tags={"theme": ["t" * 201]})
    assert article_problem(long_tag) == "a tag is 201 characters, over the limit of 200"
    note = Article(id="a", title="A", text=TEXT, source_note="n" * 2001)
    assert article_problem(note) == "source_note is 2,001 characters, over the limit of 2,000"
    extra = Article(id="a", title="A", text=TEXT, extra={"bio": "b" * 100_000})
    assert "extra metadata is 100,011 characters as JSON" in (article_problem(extra) or "")
