"""Readers: JSONL (incl. BEIR), CSV, text; a bad record is skipped with file and line."""

from __future__ import annotations

import json
from pathlib import Path

from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.readers import read_articles
from tests.conftest import DATASETS, need_shared


def split(items) -> tuple[list[Article], list[Skipped]]:
    items = list(items)
    return (
        [i for i in items if isinstance(i, Article)],
        [i for i in items if isinstance(i, Skipped)],
    )


def test_jsonl_with_bad_lines_keeps_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = [
        json.dumps(
            {
                "id": "a1",
                "title": "First",
                "text": "Good text one.",
                "author": "X",
                "published": "2020-01-02",
                "url": "https://e.example/1",
                "copyright": "© X 2020",
                "license": "CC BY 4.0",
            }
        ),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "a2", "title": "Empty", "text": "   "}),
        "",
        json.dumps({"_id": "b3", "title": "BEIR", "text": "Beir style text."}),
        json.dumps({"title": "No id", "text": "Derived id text.", "url": "https://e.example/x"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    articles, skipped = split(read_articles([path]))
    assert [a.id for a in articles][:2] == ["a1", "b3"]
    assert articles[2].id.startswith("u-")
    first = articles[0]
    assert (first.author, first.published, first.url, first.copyright, first.license) == (
        "X",
        "2020-01-02",
        "https://e.example/1",
        "© X 2020",
        "CC BY 4.0",
    )
    assert [s.origin for s in skipped] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "invalid JSON" in skipped[0].reason
    assert "expected a JSON object" in skipped[1].reason
    assert "empty text" in skipped[2].reason


def test_jsonl_bad_encoding_and_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    good = json.dumps({"id": "ok", "text": "fine"}).encode()
    path.write_bytes(b'{"id": "x", "text": "caf\xe9"}\n' + b"[" * 100_000 + b"\n" + good + b"\n")
    articles, skipped = split(read_articles([path]))
    assert [a.id for a in articles] == ["ok"]
    assert skipped[0].origin == f"{path}:1" and "UTF-8" in skipped[0].reason
    assert skipped[1].origin == f"{path}:2"


def test_csv_detects_columns_and_skips_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"id,headline,content,authors,domain,date\n"
        b'1,Title one,"Body one, with a comma\nand a newline",Ann,ex.example,2019-05-06\n'
        b"2,Too,few\n"
        b"3,Bad bytes,caf\xe9 body,Bob,ex.example,2019-05-07\n"
        b"4,Title four,Body four,Cy,ex.example,not a date\n"
    )
    articles, skipped = split(read_articles([path]))
    assert [a.id for a in articles] == ["1", "4"]
    assert articles[0].title == "Title one" and articles[0].author == "Ann"
    assert articles[0].publication == "ex.example" and articles[0].published == "2019-05-06"
    assert articles[1].published is None and articles[1].extra["published_raw"] == "not a date"
    assert [s.origin for s in skipped] == [f"{path}:4", f"{path}:5"]
    assert "3 fields" in skipped[0].reason and "UTF-8" in skipped[1].reason


def test_csv_column_map_given(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("key,words\nk1,Some words here\n", encoding="utf-8")
    articles, skipped = split(read_articles([path], {"text": "words", "id": "key"}))
    assert [a.id for a in articles] == ["k1"] and not skipped
    articles, skipped = split(read_articles([path]))
    assert not articles and "no text column" in skipped[0].reason


def test_bad_text_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Good\n\nA fine body paragraph.\n", encoding="utf-8")
    (tmp_path / "bad.md").write_bytes(b"# Bad\n\ncaf\xe9\n")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    articles, skipped = split(read_articles([tmp_path]))
    assert [a.id for a in articles] == ["good"]
    assert {Path(s.origin.split(":")[0]).name for s in skipped} == {"bad.md", "empty.txt"}


def test_fakenews_csv_reads_every_row() -> None:
    path = need_shared(DATASETS / "fakenewscorpus-sample" / "news_sample.csv")
    articles, skipped = split(read_articles([path]))
    assert len(articles) == 250 and not skipped
    assert all(a.title and a.url and a.publication for a in articles)


def test_beir_corpus_reads_as_is() -> None:
    path = need_shared(DATASETS / "scifact" / "corpus.jsonl")
    articles, skipped = split(read_articles([path]))
    assert len(articles) == 5183 and not skipped
    assert articles[0].id == "4983"


def test_unpaired_surrogate_escape_is_skipped_and_the_build_goes_on(tmp_path: Path) -> None:
    from semsearch.index.build.builder import build_index
    from tests.support.fake_embedder import HashingEmbedder

    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"id": "1", "text": "broken emoji \\ud83d here"}\n'
        '{"text": "no id and \\udc00"}\n'
        '{"id": "2", "text": "a good article about harbours"}\n',
        encoding="utf-8",
    )
    report = build_index([path], tmp_path / "idx", HashingEmbedder())
    assert report.articles == 1
    assert [s.origin for s in report.skipped] == [f"{path}:1", f"{path}:2"]
    assert all("surrogate" in s.reason for s in report.skipped)


def test_an_escaped_nul_in_jsonl_is_refused_like_a_raw_one(tmp_path: Path) -> None:
    source = tmp_path / "nul.jsonl"
    lines = [
        '{"id": "escaped", "title": "A\\u0000B", "text": "Harbour levy."}',
        '{"id": "in-text", "title": "T", "text": "Harbour\\u0000levy."}',
        '{"id": "fine", "title": "T", "text": "Harbour levy."}',
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read_articles([source]))
    assert [i.id for i in items if isinstance(i, Article)] == ["fine"]
    skipped = [(s.origin, s.reason) for s in items if isinstance(s, Skipped)]
    assert skipped == [
        (f"{source}:1", "field 'title' holds a NUL character (\\u0000): not text"),
        (f"{source}:2", "field 'text' holds a NUL character (\\u0000): not text"),
    ]


def test_a_fifo_given_as_an_input_is_refused_not_read(tmp_path: Path) -> None:
    import os
    import threading
    import time

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)  # opening it to read waits for a writer

    def unblock() -> None:
        """If a reader does open the FIFO, let it see an empty stream: a failure, not a hang."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:  # no reader yet
                time.sleep(0.05)

    threading.Thread(target=unblock, daemon=True).start()
    items = list(read_articles([fifo]))
    assert items == [Skipped(str(fifo), "not a regular file (a FIFO, socket or device): not read")]
