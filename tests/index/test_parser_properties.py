"""Property-based tests: no input crashes a reader, and a bad record costs only itself.

Every format gets generated files where good records surround a bad one (random or invalid
bytes, NUL bytes, unpaired surrogates, deep nesting, wrong field types, odd line endings,
a BOM). The good records must come back intact; the bad one must come back as a `Skipped`
whose origin names its line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.build.builder import build_index
from semsearch.index.ingest import readers
from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.layout import parse_layout
from semsearch.index.ingest.readers import (
    FIELD_ALIASES,
    MAX_FIELD_CHARS,
    read_file,
    record_to_article,
)
from semsearch.index.storage.manifest import STORE_NAME
from tests.support.fake_embedder import HashingEmbedder

# Modest example counts: the whole file must run in well under a minute on two cores.
PROPERTY = settings(max_examples=40, deadline=None)
BUILD_PROPERTY = settings(max_examples=8, deadline=None)

ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])
BOM = "\ufeff"
#: How `semsearch.index.ingest.readers` reports an exception it did not expect (see `_guarded`).
GUARDED = "cannot read this record"

# Words of letters (any script) and, for JSONL and CSV, tricky but valid characters: quotes,
# delimiters, emoji, and separators that `str.splitlines` (but not a file) treats as breaks.
WORD = st.text(st.characters(categories=("L",)), min_size=1, max_size=10)
JSON_EXTRAS = st.sampled_from([",", ".", '"', "'", "\\", "{", "}", "🙂", "日本", "\u2028", "\x85"])
PROSE = st.tuples(WORD, st.lists(WORD | JSON_EXTRAS, max_size=25)).map(
    lambda t: " ".join([t[0], *t[1]])
)
# CSV cells may also hold line breaks inside their quotes.
CSV_PROSE = st.tuples(WORD, st.lists(WORD | JSON_EXTRAS | st.sampled_from(["\n", "\r\n"]))).map(
    lambda t: " ".join([t[0], *t[1]])
)
# Bytes that never make a byte string valid UTF-8, whatever precedes them (a lone
# continuation byte comes after ASCII, so that no lead byte before it can complete it).
INVALID_UTF8 = st.sampled_from(
    [b"\xff", b"caf\xe9", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x80\x80"]
)
# Bytes on one line: no line break (the reader would see two records) and no CSV quote
# (an unclosed quote legitimately runs on into the next rows: see the CSV test).
ONE_LINE_BYTES = st.binary(max_size=120).map(
    lambda b: b.replace(b"\n", b"").replace(b"\r", b"").replace(b'"', b"")
)
ONE_LINE_TEXT = st.text(max_size=80).map(lambda s: re.sub(r"[\r\n\"\x00]", "", s))


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per generated example (pytest's tmp_path is shared between them)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def split(items: Iterable[Article | Skipped]) -> tuple[list[Article], list[Skipped]]:
    """Articles and skips apart; a skip from the readers' last-resort guard is a bug here."""
    results = list(items)
    skipped = [i for i in results if isinstance(i, Skipped)]
    assert not [s for s in skipped if s.reason.startswith(GUARDED)], skipped
    return [i for i in results if isinstance(i, Article)], skipped


def line_breaks(text: str) -> int:
    """Line breaks as a file reader counts them: CRLF, CR and LF, one each."""
    return len(re.findall(r"\r\n|\r|\n", text))


def assemble(records: list[bytes], ending: str, bom: bool) -> tuple[bytes, list[int]]:
    """The file's bytes and the line each record starts on."""
    data = BOM.encode() if bom else b""
    starts = []
    line = 1
    for record in records:
        starts.append(line)
        data += record + ending.encode()
        line += line_breaks(record.decode("utf-8", "replace") + ending)
    return data, starts


# --- JSONL -------------------------------------------------------------------------------

NOT_A_STRING = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
JSON_NOT_OBJECT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


def _json_line(value: object) -> bytes:
    return json.dumps(value).encode()


#: (bad line, what its skip reason must say)
BAD_JSONL_LINES = st.one_of(
    st.tuples(st.tuples(ONE_LINE_BYTES, INVALID_UTF8).map(b"".join), st.just("UTF-8")),
    st.just((b'{"id": "n", "text": "a NUL \x00 byte"}', "NUL")),
    st.just((b'{"id": "s", "text": "half an emoji \\ud83d"}', "surrogate")),
    st.just((b'{"text": "ok", "author": "\\udc00"}', "surrogate")),
    st.sampled_from(
        [
            (b"[" * 100_000, "nested too deeply"),
            (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
            (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
            (b'{"id": "d", "text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
        ]
    ),
    st.just((b'{"id": ' + b"9" * 5000 + b', "text": "a huge id"}', "digits")),
    st.tuples(JSON_NOT_OBJECT.map(_json_line), st.just("expected a JSON object")),
    st.tuples(
        st.builds(lambda t: {"id": "w", "title": "T", "text": t}, NOT_A_STRING).map(_json_line),
        st.just("expected a string"),
    ),
    st.tuples(
        st.builds(lambda t: {"id": "w", "title": t, "text": "fine"}, NOT_A_STRING).map(_json_line),
        st.just("expected a string"),
    ),
    st.just((b'{"id": "w", "title": "T", "text": {"a": {"a": {"a": []}}}}', "expected a string")),
    st.just((b'{"id": "z", "title": "T", "text": null}', "empty text")),
    st.just((b'{"id": "z", "title": "T", "text": " \\t\\u2028 "}', "empty text")),
    # Broken JSON: nothing that ends in "{" can be a complete JSON value.
    st.tuples(ONE_LINE_TEXT.map(lambda s: ("{" + s + "{").encode()), st.just("invalid JSON")),
)


@PROPERTY
@given(
    good=st.lists(st.tuples(PROSE, PROSE, st.booleans()), min_size=1, max_size=4),
    bad=BAD_JSONL_LINES,
    at=st.integers(0, 4),
    ending=ENDINGS,
    bom=st.booleans(),
    blank=st.booleans(),
)
def test_jsonl_bad_line_costs_only_itself(
    good: list[tuple[str, str, bool]],
    bad: tuple[bytes, str],
    at: int,
    ending: str,
    bom: bool,
    blank: bool,
) -> None:
    bad_line, reason = bad
    lines = [
        json.dumps({"id": f"g{i}", "title": title, "text": text}, ensure_ascii=escaped).encode()
        for i, (title, text, escaped) in enumerate(good)
    ]
    at = min(at, len(lines))
    lines.insert(at, bad_line)
    if blank:
        lines.insert(at + 1, b" \t ")  # blank lines are no records at all
    data, starts = assemble(lines, ending, bom)
    with scratch() as folder:
        path = folder / "a.jsonl"
        path.write_bytes(data)
        articles, skipped = split(read_file(path, folder))
    assert [a.id for a in articles] == [f"g{i}" for i in range(len(good))]
    assert [(a.title, a.text) for a in articles] == [(t.strip(), x.strip()) for t, x, _ in good]
    assert len(skipped) == 1, skipped
    assert skipped[0].origin == f"{path}:{starts[at]}"
    assert reason in skipped[0].reason, skipped[0].reason


@PROPERTY
@given(st.binary(max_size=2000))
def test_jsonl_of_random_bytes_never_raises(data: bytes) -> None:
    with scratch() as folder:
        path = folder / "r.jsonl"
        path.write_bytes(data)
        articles, skipped = split(read_file(path, folder))
    assert all(
        re.fullmatch(rf"{re.escape(str(path))}(:\d+)?", i.origin) for i in [*articles, *skipped]
    )


ALIASES = sorted({alias for names in FIELD_ALIASES.values() for alias in names})
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


@PROPERTY
@given(st.dictionaries(st.sampled_from(ALIASES) | st.text(max_size=6), JSON_VALUES))
def test_any_json_object_becomes_an_article_or_a_reason(record: dict[str, object]) -> None:
    mapping = readers.detect_mapping(record.keys())
    result = record_to_article(record, mapping, "x.jsonl:1")
    if isinstance(result, Skipped):
        assert result.origin == "x.jsonl:1" and result.reason
    else:
        assert isinstance(result.text, str) and result.text.strip()
        assert isinstance(result.title, str) and isinstance(result.id, str) and result.id


# --- CSV ---------------------------------------------------------------------------------

#: (bad row, what its skip reason may say)
BAD_CSV_ROWS = st.one_of(
    st.tuples(
        st.tuples(st.just(b"b,title,"), ONE_LINE_BYTES, INVALID_UTF8).map(b"".join),
        st.just(("UTF-8", "fields")),  # the random bytes may add commas
    ),
    st.tuples(
        st.tuples(ONE_LINE_BYTES, INVALID_UTF8).map(b"".join),
        st.just(("UTF-8", "fields", "NUL")),
    ),
    st.tuples(
        st.lists(ONE_LINE_TEXT.map(lambda s: s.replace(",", "")), min_size=4, max_size=6).map(
            lambda cells: ",".join(["x", *cells]).encode()
        ),
        st.just(("fields",)),
    ),
    st.just((b"only,two", ("fields",))),
    st.just((b"n,title,a NUL \x00 byte", ("NUL",))),
    st.just((b"e,title,   ", ("empty text",))),
)


@PROPERTY
@given(
    good=st.lists(st.tuples(PROSE, CSV_PROSE), min_size=1, max_size=4),
    bad=BAD_CSV_ROWS,
    at=st.integers(0, 4),
    ending=ENDINGS,
    bom=st.booleans(),
)
def test_csv_bad_row_costs_only_itself(
    good: list[tuple[str, str]],
    bad: tuple[bytes, tuple[str, ...]],
    at: int,
    ending: str,
    bom: bool,
) -> None:
    bad_row, reasons = bad
    rows = []
    for i, (title, text) in enumerate(good):
        out = io.StringIO()
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow([f"c{i}", title, text])
        rows.append(out.getvalue().encode())
    at = min(at, len(rows))
    rows.insert(at, bad_row)
    data, starts = assemble([b"id,title,text", *rows], ending, bom)
    with scratch() as folder:
        path = folder / "a.csv"
        path.write_bytes(data)
        articles, skipped = split(read_file(path, folder))
    assert [a.id for a in articles] == [f"c{i}" for i in range(len(good))]
    assert [(a.title, a.text) for a in articles] == [(t.strip(), x.strip()) for t, x in good]
    assert len(skipped) == 1, skipped
    assert skipped[0].origin == f"{path}:{starts[at + 1]}"
    assert any(reason in skipped[0].reason for reason in reasons), skipped[0].reason


@PROPERTY
@given(st.binary(max_size=2000))
def test_csv_of_random_bytes_never_raises(data: bytes) -> None:
    with scratch() as folder:
        path = folder / "r.csv"
        path.write_bytes(b"id,title,text\n" + data)
        articles, skipped = split(read_file(path, folder))
    origins = [i.origin for i in [*articles, *skipped]]
    assert all(re.fullmatch(rf"{re.escape(str(path))}(:\d+)?", origin) for origin in origins)


def test_csv_unclosed_quote_runs_on_but_never_raises(tmp_path: Path) -> None:
    """An unclosed quote makes the rest of the file one field: CSV cannot tell where that
    field was meant to end. The reader must still finish and report something."""
    path = tmp_path / "q.csv"
    path.write_text('id,title,text\n1,A,"open quote\n2,B,after\n', encoding="utf-8")
    articles, skipped = split(read_file(path, tmp_path))
    assert articles or skipped


# --- Markdown and text ---------------------------------------------------------------------

# Plain words keep the layout parser's hands off the body (no links, dates or prompts).
MD_WORD = st.text(st.characters(categories=("L",)), min_size=1, max_size=10)
MD_PARAGRAPH = st.lists(MD_WORD, min_size=1, max_size=20).map(lambda w: " ".join(w) + ".")


@st.composite
def bad_text_files(draw: st.DrawFn) -> tuple[bytes, int | None, str]:
    """(file bytes, line of the problem or None for the whole file, what the reason says)."""
    kind = draw(st.sampled_from(["utf8", "nul", "empty", "blank", "bom"]))
    if kind in {"utf8", "nul"}:
        before = draw(st.lists(MD_PARAGRAPH, max_size=4))
        bad = draw(INVALID_UTF8) if kind == "utf8" else b"a NUL \x00 byte"
        line = draw(ONE_LINE_TEXT).encode() + bad
        data = "".join(p + "\n" for p in before).encode() + line + b"\n"
        return data, len(before) + 1, "UTF-8" if kind == "utf8" else "NUL"
    if kind == "empty":
        return b"", None, "empty"
    if kind == "blank":
        return draw(st.text(" \t\r\n\u00a0\u2028\x0b", max_size=40)).encode(), None, "empty"
    return BOM.encode() + draw(st.sampled_from([b"", b"\n", b" \r\n "])), None, "empty"


@PROPERTY
@given(
    good=st.lists(
        st.tuples(MD_WORD, st.lists(MD_PARAGRAPH, min_size=1, max_size=3)), min_size=1, max_size=3
    ),
    bad=bad_text_files(),
    suffix=st.sampled_from([".md", ".txt"]),
    ending=ENDINGS,
    bom=st.booleans(),
)
def test_text_files_bad_one_costs_only_itself(
    good: list[tuple[str, list[str]]],
    bad: tuple[bytes, int | None, str],
    suffix: str,
    ending: str,
    bom: bool,
) -> None:
    data, bad_line, reason = bad
    with scratch() as folder:
        for i, (title, paragraphs) in enumerate(good):
            page = f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"
            raw = (BOM if bom else "") + page.replace("\n", ending)
            (folder / f"g{i}{suffix}").write_bytes(raw.encode())
        bad_path = folder / f"bad{suffix}"
        bad_path.write_bytes(data)
        articles, skipped = split(readers.read_articles([folder]))
    assert sorted(a.id for a in articles) == [f"g{i}" for i in range(len(good))]
    for article in articles:
        title, paragraphs = good[int(article.id[1:])]
        assert (article.title, article.text) == (title, "\n\n".join(paragraphs))
    assert len(skipped) == 1, skipped
    expected = str(bad_path) if bad_line is None else f"{bad_path}:{bad_line}"
    assert skipped[0].origin == expected
    assert reason in skipped[0].reason, skipped[0].reason


@PROPERTY
@given(st.binary(max_size=3000), st.sampled_from([".md", ".txt"]))
def test_text_file_of_random_bytes_gives_one_result(data: bytes, suffix: str) -> None:
    with scratch() as folder:
        path = folder / f"r{suffix}"
        path.write_bytes(data)
        articles, skipped = split(read_file(path, folder))
    assert len(articles) + len(skipped) == 1


# Markdown's own punctuation, so links, emphasis, headings and footers half-form everywhere.
MARKDOWNISH = st.text(
    st.sampled_from(list("[]()*_#!<>@:.,/\\&;-~`\"' \t\n\r©0123456789aAbBwW")) | st.characters(),
    max_size=3000,
)


@PROPERTY
@given(MARKDOWNISH)
def test_layout_parser_takes_any_text(text: str) -> None:
    parsed = parse_layout(text)
    assert isinstance(parsed.text, str)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000,
        "*" * 200_000,
        "(" * 200_000,
        "_" * 200_000,
        "![" * 100_000,
        "*a " * 70_000,
        "_a " * 70_000,
        "**a " * 50_000,
        "[a](" * 50_000,
        "<http:" * 35_000,
        "# " + " " * 200_000 + "x",
        "By " + "Ann " * 50_000,
        "Copyright © " * 17_000,
        "&#" * 100_000,
        "a\n" * 100_000,
        "4" * 200_000,
        "Published: " + "9" * 200_000,
    ],
    ids=lambda text: repr(text[:8]),
)
def test_pathological_markup_is_parsed_quickly(text: str) -> None:
    """200 KB of unmatched brackets and delimiters: each regex scan must stay linear."""
    started = time.perf_counter()
    parse_layout(text)
    assert time.perf_counter() - started < 5


# --- Gigantic lines ----------------------------------------------------------------------


def test_gigantic_lines_are_read_or_refused_without_losing_neighbours(tmp_path: Path) -> None:
    big = "word " * 600_000  # 3 MB: long but allowed
    huge = "x" * (MAX_FIELD_CHARS + 1)
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({"id": i, "text": text}) for i, text in enumerate(["a", big, huge, "b"])
        ),
        encoding="utf-8",
    )
    articles, skipped = split(read_file(jsonl, tmp_path))
    assert [a.id for a in articles] == ["0", "1", "3"] and articles[1].text == big.strip()
    assert [s.origin for s in skipped] == [f"{jsonl}:3"] and "over" in skipped[0].reason

    table = tmp_path / "big.csv"
    table.write_text(f"id,text\n0,a\n1,{big}\n2,{huge}\n3,b\n", encoding="utf-8")
    articles, skipped = split(read_file(table, tmp_path))
    assert [a.id for a in articles] == ["0", "1", "3"] and articles[1].text == big.strip()
    assert [s.origin for s in skipped] == [f"{table}:4"] and "over" in skipped[0].reason

    page = tmp_path / "big.md"
    page.write_text("# Big\n\n" + "word " * 200_000 + "\n", encoding="utf-8")
    articles, skipped = split(read_file(page, tmp_path))
    assert len(articles) == 1 and len(articles[0].text) == len("word " * 200_000) - 1


def test_a_line_too_long_to_hold_is_skipped_and_the_next_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_LINE_CHARS", 1000)
    path = tmp_path / "long.jsonl"
    long_line = json.dumps({"id": "long", "text": "y" * 5000})
    path.write_text(f'{long_line}\n{{"id": "next", "text": "fine"}}\n', encoding="utf-8")
    articles, skipped = split(read_file(path, tmp_path))
    assert [a.id for a in articles] == ["next"]
    assert [s.origin for s in skipped] == [f"{path}:1"] and "1,000" in skipped[0].reason


def test_a_huge_date_is_not_read_as_a_date(tmp_path: Path) -> None:
    """dateutil is quadratic in its input: a megabyte of digits once took minutes."""
    path = tmp_path / "date.jsonl"
    path.write_text(json.dumps({"id": "d", "text": "t", "date": "4" * 1_000_000}), "utf-8")
    started = time.perf_counter()
    articles, _ = split(read_file(path, tmp_path))
    assert time.perf_counter() - started < 5
    assert articles[0].published is None and len(articles[0].extra["published_raw"]) == 1_000_000


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".md", ".txt"])
@pytest.mark.parametrize(
    "data", [b"", b"   ", b"\n\n\r\n", BOM.encode(), BOM.encode() + b"\n \n", b"\x00" * 8]
)
def test_empty_and_blank_files_are_reported(tmp_path: Path, suffix: str, data: bytes) -> None:
    path = tmp_path / f"e{suffix}"
    path.write_bytes(data)
    articles, skipped = split(read_file(path, tmp_path))
    assert not articles and len(skipped) == 1
    assert skipped[0].origin.startswith(str(path))


# --- The whole build ---------------------------------------------------------------------


@BUILD_PROPERTY
@given(
    noise=st.lists(
        st.tuples(st.binary(max_size=400), INVALID_UTF8).map(b"".join), min_size=1, max_size=3
    ),
    texts=st.lists(MD_PARAGRAPH, min_size=3, max_size=3),
    ending=ENDINGS,
)
def test_build_keeps_every_good_article_among_random_files(
    noise: list[bytes], texts: list[str], ending: str
) -> None:
    with scratch() as folder:
        source = folder / "in"
        source.mkdir()
        (source / "g-md.md").write_text(
            f"# Page\n\n{texts[0]}\n".replace("\n", ending), encoding="utf-8"
        )
        (source / "g.jsonl").write_bytes(
            (json.dumps({"id": "g-json", "title": "J", "text": texts[1]}) + ending).encode()
            + noise[0].replace(b"\n", b" ")
            + ending.encode()
        )
        (source / "g.csv").write_text(
            f"id,title,text{ending}g-csv,C,{texts[2]}{ending}", encoding="utf-8"
        )
        for i, data in enumerate(noise):
            (source / f"noise{i}{['.md', '.jsonl', '.csv'][i]}").write_bytes(data)
        report = build_index(
            [source], folder / "idx", HashingEmbedder(dimension=64, max_seq_tokens=64)
        )
        with closing(sqlite3.connect(report.version_dir / STORE_NAME)) as db:
            stored = dict(db.execute("SELECT id, text FROM articles").fetchall())
    assert report.articles >= 3 and len(stored) == report.articles
    assert [stored.get(key) for key in ("g-md", "g-json", "g-csv")] == texts
    assert report.skipped and all(":" in s.origin or "noise" in s.origin for s in report.skipped)
    assert not [s for s in report.skipped if s.reason.startswith(GUARDED)]
