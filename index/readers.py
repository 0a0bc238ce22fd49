"""Read articles from files and folders: markdown/text pages, JSONL (incl. BEIR), CSV.

Every reader yields `Article` or `Skipped`: a malformed record is reported with its file and
line and the reading goes on with the next one.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from index.articles import Article, Skipped, stable_id
from index.layout import parse_iso_date, parse_layout

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | CSV_SUFFIXES

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
    "copyright": ("copyright", "rights"),
    "license": ("license", "licence"),
}

#: A single field longer than this is refused rather than held in memory whole.
MAX_FIELD_CHARS = 5_000_000


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


def iter_input_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, Path]]:
    """Each (file, root) under the given files and folders, folders walked in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and child.suffix.lower() in SUPPORTED_SUFFIXES and not hidden:
                    yield child, path
        else:
            yield path, path.parent


def read_articles(
    paths: Iterable[str | Path], column_map: dict[str, str] | None = None
) -> Iterator[Article | Skipped]:
    """Every article (or skipped record) in the given files and folders."""
    for path, root in iter_input_files(paths):
        yield from read_file(path, root, column_map)


def read_file(
    path: Path, root: Path, column_map: dict[str, str] | None = None
) -> Iterator[Article | Skipped]:
    """The articles of one file; `root` is the folder that path-derived ids are relative to."""
    if not path.exists():
        yield Skipped(str(path), "no such file or folder")
        return
    suffix = path.suffix.lower()
    try:
        if suffix in TEXT_SUFFIXES:
            yield read_text_article(path, root)
        elif suffix in JSONL_SUFFIXES:
            yield from read_jsonl(path, column_map)
        elif suffix in CSV_SUFFIXES:
            yield from read_csv(path, column_map)
        else:
            yield Skipped(
                str(path),
                f"unsupported file type {suffix or '(none)'}: use "
                + ", ".join(sorted(SUPPORTED_SUFFIXES)),
            )
    except OSError as exc:
        yield Skipped(str(path), f"cannot read file: {exc.strerror or exc}")


def _decode(data: bytes, origin: str) -> str | Skipped:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Skipped(f"{origin}:{line}", f"not valid UTF-8 (byte {exc.start}): re-save as UTF-8")
    if "\x00" in text:
        return Skipped(origin, "contains NUL bytes: looks like a binary file, not text")
    return text


def read_text_article(path: Path, root: Path) -> Article | Skipped:
    """One markdown/text article in the web-page layout (see `index.layout`)."""
    decoded = _decode(path.read_bytes(), str(path))
    if isinstance(decoded, Skipped):
        return decoded
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


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value if v)
    text = str(value).strip()
    return text or None


def record_to_article(
    record: dict[str, Any], mapping: dict[str, str], origin: str
) -> Article | Skipped:
    """A JSON object or CSV row, through the field mapping, as an Article."""
    values = {name: _as_text(record.get(column)) for name, column in mapping.items()}
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
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            origin = f"{path}:{line_no}"
            if not raw.strip():
                continue
            decoded = _decode(raw, str(path))
            if isinstance(decoded, Skipped):
                yield Skipped(origin, decoded.reason)
                continue
            try:
                record = json.loads(decoded)
            except (json.JSONDecodeError, RecursionError) as exc:
                reason = getattr(exc, "msg", "nested too deeply")
                yield Skipped(origin, f"invalid JSON: {reason}")
                continue
            if not isinstance(record, dict):
                yield Skipped(origin, f"expected a JSON object, got {type(record).__name__}")
                continue
            try:
                json.dumps(record, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                yield Skipped(origin, "unpaired surrogate escape (\\udXXX): not valid Unicode")
                continue
            yield record_to_article(record, detect_mapping(record.keys(), column_map), origin)


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
            record = {mapping[name]: row[i] for name, i in index.items()}
            yield record_to_article(record, mapping, origin)


def _has_bad_bytes(text: str) -> bool:
    """True when surrogateescape decoding stood in for undecodable bytes."""
    return any("\udc80" <= char <= "\udcff" for char in text)
