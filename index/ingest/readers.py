"""Read articles from files and folders: markdown/text pages, JSONL (incl. BEIR), CSV,
saved web pages (`.html`, `.htm`, gzipped or not: `semsearch.index.ingest.html`) and web
archives (`.warc`, `.warc.gz`: `semsearch.index.ingest.warc`).

Every reader yields `Article` or `Skipped`: a malformed record is reported with its file and
line and the reading goes on with the next one. No input may end the reading: broken bytes,
deep nesting, giant lines and fields of the wrong type all come back as a `Skipped`.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from semsearch.index.ingest import html, warc
from semsearch.index.ingest.articles import Article, Skipped, stable_id
from semsearch.index.ingest.layout import parse_iso_date, parse_layout

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | CSV_SUFFIXES
#: Every file name ending read, compound ones (`.html.gz`, `.warc.gz`) included, for messages.
SUPPORTED_NAMES = (
    *sorted(SUPPORTED_SUFFIXES),
    *html.HTML_FILE_SUFFIXES,
    *warc.WARC_SUFFIXES,
)

#: Column or key names recognised for each article field, first match wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "_id", "doc_id", "docid", "article_id", "uuid"),
    "title": ("title", "headline", "name"),
    "text": ("text", "content", "body", "article", "full_text", "abstract"),
    "author": ("author", "authors", "byline", "creator"),
    "published": (
        "published",
        "published_at",
        "publish_date",
        "publication_date",
        "pubdate",
        "date",
    ),
    "url": ("url", "link", "source_url", "canonical_url"),
    "publication": ("publication", "publisher", "source", "site_name", "domain", "site"),
    "language": ("language", "lang", "inlanguage", "locale"),
    "copyright": ("copyright", "rights"),
    "license": ("license", "licence"),
}

#: A single field longer than this is refused.
MAX_FIELD_CHARS = 5_000_000
#: A JSONL line longer than this is skipped without being held in memory whole; it leaves room
#: for a MAX_FIELD_CHARS text written with \uXXXX escapes.
MAX_LINE_CHARS = 8 * MAX_FIELD_CHARS
#: A text file larger than this is skipped without being read (UTF-8 takes up to 4 bytes a
#: character).
MAX_TEXT_FILE_BYTES = 4 * MAX_FIELD_CHARS
#: Fields that must be strings; the others may also be integers or lists of strings (authors).
STRING_FIELDS = frozenset({"title", "text"})

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def detect_mapping(columns: Iterable[str], given: dict[str, str] | None = None) -> dict[str, str]:
    """Map article fields to the input's column names: the given mapping, then the aliases."""
    lowered = {c.strip().lower(): c for c in columns if c is not None}
    mapping: dict[str, str] = {}
    for field_name, aliases in FIELD_ALIASES.items():
        if given and field_name in given:
            mapping[field_name] = given[field_name]
            continue
        for alias in aliases:
            if alias in lowered:
                mapping[field_name] = lowered[alias]
                break
    return mapping


def is_supported_file(path: Path) -> bool:
    """True for the file names some reader takes (`.html.gz` and `.warc.gz` included)."""
    return (
        path.suffix.lower() in SUPPORTED_SUFFIXES
        or html.is_html_file(path)
        or warc.is_warc_file(path)
    )


def iter_input_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, Path]]:
    """Each (file, root) under the given files and folders, folders walked in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and is_supported_file(child) and not hidden:
                    yield child, path
        else:
            yield path, path.parent


def read_articles(
    paths: Iterable[str | Path],
    column_map: dict[str, str] | None = None,
    warc_counts: warc.WarcCounts | None = None,
) -> Iterator[Article | Skipped]:
    """Every article (or skipped record) in the given files and folders."""
    for path, root in iter_input_files(paths):
        yield from read_file(path, root, column_map, warc_counts)


def read_file(
    path: Path,
    root: Path,
    column_map: dict[str, str] | None = None,
    warc_counts: warc.WarcCounts | None = None,
) -> Iterator[Article | Skipped]:
    """The articles of one file; `root` is the folder that path-derived ids are relative to.

    A WARC's records that are only counted (not pages, redirects, error statuses) are added
    to `warc_counts` when it is given."""
    if not path.exists():
        yield Skipped(str(path), "no such file or folder")
        return
    if not path.is_file():
        # Opening a FIFO would wait for a writer forever; a device could be read for ever.
        yield Skipped(str(path), "not a regular file (a FIFO, socket or device): not read")
        return
    for item in _read_file(path, root, column_map, warc_counts):
        yield with_provenance(item, path) if isinstance(item, Article) else item


def with_provenance(article: Article, path: Path) -> Article:
    """The article with where it came from: the input file, and the line (JSONL, CSV) or the
    WARC record id and fetch date inside it."""
    if article.provenance:
        return article
    provenance: dict[str, Any] = {"file": str(path)}
    inside = article.origin.removeprefix(f"{path}:") if article.origin != str(path) else ""
    extra = article.extra
    warc_record = extra.get("warc")
    if isinstance(warc_record, dict):
        # The record's id and fetch date move to the provenance: kept in `extra` they would
        # be served twice, and a re-crawl would change the content hash.
        provenance["record_id"] = warc_record.get("record_id")
        provenance["fetched"] = warc_record.get("fetched")
        extra = {k: v for k, v in extra.items() if k != "warc"}
    elif inside.isdigit():
        provenance["line"] = int(inside)  # of a JSONL record, or where a CSV row starts
    return replace(article, extra=extra, provenance=provenance)


def _read_file(
    path: Path,
    root: Path,
    column_map: dict[str, str] | None,
    warc_counts: warc.WarcCounts | None,
) -> Iterator[Article | Skipped]:
    suffix = path.suffix.lower()
    try:
        # Compound names first: "a.html.gz" has the suffix ".gz".
        if html.is_html_file(path):
            yield _guarded(str(path), html.read_html_file, path, root)
        elif warc.is_warc_file(path):
            yield from warc.read_warc(path, warc_counts)
        elif suffix in TEXT_SUFFIXES:
            yield _guarded(str(path), read_text_article, path, root)
        elif suffix in JSONL_SUFFIXES:
            yield from read_jsonl(path, column_map)
        elif suffix in CSV_SUFFIXES:
            yield from read_csv(path, column_map)
        else:
            yield Skipped(
                str(path),
                f"unsupported file type {suffix or '(none)'}: use " + ", ".join(SUPPORTED_NAMES),
            )
    except OSError as exc:
        yield Skipped(str(path), f"cannot read file: {exc.strerror or exc}")


def _guarded(origin: str, read: Callable[..., Article | Skipped], *args: Any) -> Article | Skipped:
    """`read(*args)`, or a Skipped naming the error: a reader bug costs one record, not the build.

    OSError is left to `read_file`, which reports the file as unreadable."""
    try:
        return read(*args)
    except OSError:
        raise
    except Exception as exc:
        log.exception("cannot read %s", origin)
        return Skipped(origin, f"cannot read this record: {type(exc).__name__}: {exc}")


def _line_at(data: bytes, offset: int) -> int:
    """The line number of a byte offset; CRLF, CR and LF each end a line, as in editors."""
    return len(_LINE_BREAK.findall(data, 0, offset)) + 1


def _decode(data: bytes, origin: str) -> str | Skipped:
    """UTF-8 text (a BOM dropped), or a Skipped naming the line of the first bad byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(
            f"{origin}:{_line_at(data, exc.start)}",
            f"not valid UTF-8 (byte {exc.start}): re-save as UTF-8",
        )
    if (nul := data.find(b"\x00")) >= 0:
        return Skipped(
            f"{origin}:{_line_at(data, nul)}",
            "contains NUL bytes: looks like a binary file, not text",
        )
    return text


def read_text_article(path: Path, root: Path) -> Article | Skipped:
    """One markdown/text article in the web-page layout (see `semsearch.index.ingest.layout`)."""
    size = path.stat().st_size
    if size > MAX_TEXT_FILE_BYTES:
        return Skipped(str(path), f"file is {size:,} bytes, over {MAX_TEXT_FILE_BYTES:,}")
    decoded = _decode(path.read_bytes(), str(path))
    if isinstance(decoded, Skipped):
        return decoded
    if not decoded.strip():
        return Skipped(str(path), "empty file: no text at all")
    parsed = parse_layout(decoded)
    if not parsed.text.strip():
        return Skipped(str(path), "no article text left after removing boilerplate")
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    article_id = relative.with_suffix("").as_posix()
    return Article(
        id=article_id,
        title=parsed.title or path.stem,
        text=parsed.text,
        author=parsed.author,
        publication=parsed.publication,
        published=parsed.published,
        url=parsed.url if parsed.url and is_web_url(parsed.url) else None,
        copyright=parsed.copyright,
        license=parsed.license,
        source_note=parsed.source_note,
        tags=parsed.tags,
        extra=parsed.extra,
        origin=str(path),
    )


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL: the only kind a result may link to."""
    return url.lower().startswith(("http://", "https://")) and len(url) > len("https://")


class FieldError(ValueError):
    """A record's field holds a value that no article field can take."""


def json_type(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words: "an object", "a number", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _as_text(name: str, column: str, value: Any) -> str | None:
    """A field's value as stripped text, None when absent; FieldError when it is not text."""
    if value is None:
        return None
    strict = name in STRING_FIELDS
    if isinstance(value, str):
        text = value
    elif not strict and isinstance(value, int) and not isinstance(value, bool):
        text = str(value)  # numeric ids
    elif not strict and isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = ", ".join(v.strip() for v in value if v.strip())  # several authors
    else:
        wanted = "a string" if strict else "a string, an integer or a list of strings"
        raise FieldError(f"field {column!r} is {json_type(value)}, expected {wanted}")
    if "\x00" in text:
        # JSON's "\u0000" decodes to the NUL a raw byte would be: refused alike.
        raise FieldError(f"field {column!r} holds a NUL character (\\u0000): not text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can escape half of a surrogate pair ("\ud83d"); no UTF-8 text can hold it.
        raise FieldError(
            f"field {column!r} has an unpaired surrogate escape (\\udXXX): not valid Unicode"
        ) from None
    return text.strip() or None


def record_to_article(
    record: dict[str, Any], mapping: dict[str, str], origin: str
) -> Article | Skipped:
    """A JSON object or CSV row, through the field mapping, as an Article."""
    try:
        values = {
            name: _as_text(name, column, record.get(column)) for name, column in mapping.items()
        }
    except FieldError as exc:
        return Skipped(origin, str(exc))
    text = values.get("text")
    if not text:
        wanted = mapping.get("text", " or ".join(FIELD_ALIASES["text"][:3]))
        return Skipped(origin, f"empty text: field {wanted!r} is missing or blank")
    if len(text) > MAX_FIELD_CHARS:
        return Skipped(origin, f"text is {len(text):,} characters, over {MAX_FIELD_CHARS:,}")
    title = values.get("title") or ""
    url = values.get("url")
    extra: dict[str, Any] = {}
    if url and not is_web_url(url):
        extra["url_raw"] = url  # kept for the record, never linked: javascript:, data:, ...
        url = None
    published_raw = values.get("published")
    published = parse_iso_date(published_raw) if published_raw else None
    article_id = values.get("id") or (
        "u-" + stable_id(url) if url else "h-" + stable_id(title, text)
    )
    if published_raw and not published:
        extra["published_raw"] = published_raw
    if values.get("language"):
        extra["language"] = values["language"]  # the declared tag, as HTML pages keep it
    return Article(
        id=article_id,
        title=title,
        text=text,
        author=values.get("author"),
        publication=values.get("publication"),
        published=published,
        url=url,
        copyright=values.get("copyright"),
        license=values.get("license"),
        extra=extra,
        origin=origin,
    )


def read_jsonl(path: Path, column_map: dict[str, str] | None = None) -> Iterator[Article | Skipped]:
    """One JSON object a line; BEIR's `_id`/`title`/`text` read as they are."""
    records = 0
    # Universal newlines: a file saved with CR line ends still has one record a line (JSON
    # strings cannot hold a raw CR or LF). surrogateescape keeps a bad byte to its own line.
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape") as handle:
        line_no = 0
        while line := handle.readline(MAX_LINE_CHARS + 1):
            line_no += 1
            origin = f"{path}:{line_no}"
            if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                while (rest := handle.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                    pass  # read on to the end of the line without holding it
                records += 1
                yield Skipped(origin, f"line is over {MAX_LINE_CHARS:,} characters")
            elif line.strip():
                records += 1
                yield _read_json_line(line.removeprefix("\ufeff"), origin, column_map)
    if not records:
        yield Skipped(str(path), "empty file: no JSON lines")


def _read_json_line(line: str, origin: str, column_map: dict[str, str] | None) -> Article | Skipped:
    """One JSONL line as an Article, or a Skipped saying what is wrong with it."""
    record = parse_json_record(line, origin)
    if isinstance(record, Skipped):
        return record
    mapping = detect_mapping(record.keys(), column_map)
    return _guarded(origin, record_to_article, record, mapping, origin)


def parse_json_record(line: str, origin: str) -> dict[str, Any] | Skipped:
    """One line of JSON as an object, or a Skipped saying what is wrong with it. Shared by
    the JSONL reader and writes over HTTP (`semsearch.index.ingest.pushed`)."""
    if _has_bad_bytes(line):
        column = next(i for i, char in enumerate(line, start=1) if _has_bad_bytes(char))
        return Skipped(origin, f"not valid UTF-8 (column {column}): re-save as UTF-8")
    if "\x00" in line:
        return Skipped(origin, "contains NUL bytes: looks like a binary file, not text")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return Skipped(origin, f"invalid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return Skipped(origin, "invalid JSON: nested too deeply to read")
    except ValueError:  # an integer longer than Python will convert
        digits = sys.get_int_max_str_digits()
        return Skipped(origin, f"invalid JSON: a number has over {digits:,} digits")
    if not isinstance(record, dict):
        return Skipped(origin, f"expected a JSON object, got {json_type(record)}")
    return record


def record_article(record: dict[str, Any], origin: str) -> Article | Skipped:
    """A parsed JSON object as an Article through the JSONL reader's field names."""
    return _guarded(origin, record_to_article, record, detect_mapping(record.keys()), origin)


def read_csv(path: Path, column_map: dict[str, str] | None = None) -> Iterator[Article | Skipped]:
    """A CSV file with a header row; columns mapped by name (detected or given)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    # surrogateescape keeps a bad byte from ending the file: only its own row is skipped.
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            yield Skipped(f"{path}:1", f"malformed CSV header: {exc}")
            return
        if not header:
            yield Skipped(f"{path}:1", "empty CSV file: no header row")
            return
        mapping = detect_mapping(header, column_map)
        if "text" not in mapping:
            yield Skipped(
                f"{path}:1", f"no text column among {header}: name one with --csv-map text=COLUMN"
            )
            return
        index = {name: header.index(column) for name, column in mapping.items() if column in header}
        line_no = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield Skipped(f"{path}:{line_no}", f"malformed CSV row: {exc}")
                line_no = reader.line_num + 1
                continue
            origin = f"{path}:{line_no}"
            line_no = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield Skipped(origin, f"row has {len(row)} fields, header has {len(header)}")
                continue
            if any(_has_bad_bytes(cell) for cell in row):
                yield Skipped(origin, "not valid UTF-8: re-save the file as UTF-8")
                continue
            if any("\x00" in cell for cell in row):
                yield Skipped(origin, "contains NUL bytes: looks like a binary file, not text")
                continue
            record = {mapping[name]: row[i] for name, i in index.items()}
            yield _guarded(origin, record_to_article, record, mapping, origin)


def _has_bad_bytes(text: str) -> bool:
    """True when surrogateescape decoding stood in for undecodable bytes."""
    return any("\udc80" <= char <= "\udcff" for char in text)
