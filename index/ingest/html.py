"""Read saved web pages (`.html`, `.htm`, gzipped or not) into articles.

The main text comes out of the page with trafilatura; the metadata comes from the page's own
markup only: `<title>`, `<meta>` tags (Open Graph, `article:`, Dublin Core), JSON-LD,
`<link rel="canonical">` / `rel="license"`, `<html lang>` and a copyright line in the page's
footer. What the page does not state stays empty: no date is guessed from the text, no
publication from the file name.

No page ends the reading: a page that is not HTML, empty or only scripts, a broken gzip
stream, a page over `MAX_HTML_BYTES`, a declared charset its bytes do not match, or a page
whose main text cannot be found each comes back as a `Skipped` with the reason.
"""

from __future__ import annotations

import codecs
import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.layout import parse_iso_date

log = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm")
#: Suffixes the HTML reader takes: the page, or the page gzipped.
HTML_FILE_SUFFIXES = (*HTML_SUFFIXES, *(s + ".gz" for s in HTML_SUFFIXES))
#: A page (after gunzipping) larger than this is skipped unread. Real article pages, inline
#: images and all, stay well below; past it lxml and trafilatura take seconds and hundreds
#: of MB, and what is there is a data dump, not an article.
MAX_HTML_BYTES = 16 * 1024 * 1024
#: Bad bytes tolerated in a page whose declared charset is otherwise right (a stray byte
#: pasted from another encoding), per byte of page; above it the declaration is a lie.
MAX_BAD_BYTE_RATE = 0.001
#: Shortest main text (in characters) taken as an article rather than a stub or an error page.
MIN_TEXT_CHARS = 20

#: trafilatura settings, chosen on the article-extraction benchmark (scripts/bench_extraction.py;
#: see docs). Comments are left out: readers' comments are not the article.
EXTRACT_SETTINGS: dict[str, bool] = {
    "include_comments": False,
    "include_tables": True,
    "favor_precision": False,
    "favor_recall": True,
}

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.I)
_TAG = re.compile(
    r"<\s*(?:!doctype\s+html|html|head|body|title|meta|p|div|article|main|section|span|h[1-6]|"
    r"table|a|br|ul|li|script|style|link|img|header|footer|nav)\b",
    re.IGNORECASE,
)
_COPYRIGHT_LINE = re.compile(
    r"(?:©|&copy;|\(c\)\s*(?:19|20)\d\d|\bcopyright\b\s*(?:©|\(c\)|(?:19|20)\d\d))", re.I
)
#: Longest footer line kept as a copyright statement (longer is prose about copyright).
MAX_COPYRIGHT_CHARS = 200
_LICENSE_META = ("dc.rights", "dcterms.rights", "rights", "license", "dc.license")
_COPYRIGHT_META = ("copyright", "dc.rights.copyright", "dcterms.rightsholder", "og:rights")
_JSONLD_LIMIT = 200_000  # characters of one JSON-LD script that are parsed


@dataclass
class PageFacts:
    """What the page's markup states, apart from its main text."""

    language: str | None = None
    copyright: str | None = None
    license: str | None = None
    canonical: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def html_article_id(path: Path, root: Path) -> str:
    """The id of a page file: its path under `root` without `.gz` and `.html`/`.htm`."""
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    name = relative.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    for suffix in HTML_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return (relative.parent / name).as_posix() if str(relative.parent) != "." else name


def is_html_file(path: Path) -> bool:
    """True for the file names the HTML reader takes."""
    return path.name.lower().endswith(HTML_FILE_SUFFIXES)


def read_html_file(path: Path, root: Path) -> Article | Skipped:
    """One saved page (gzipped when its name ends in `.gz`) as an Article."""
    origin = str(path)
    data = _read_limited(path)
    if isinstance(data, Skipped):
        return data
    return parse_html(data, article_id=html_article_id(path, root), origin=origin)


def _read_limited(path: Path) -> bytes | Skipped:
    """The page's bytes, gunzipped, or a Skipped when too large or the gzip is broken."""
    origin = str(path)
    if not path.name.lower().endswith(".gz"):
        size = path.stat().st_size
        if size > MAX_HTML_BYTES:
            return Skipped(origin, f"page is {size:,} bytes, over the {MAX_HTML_BYTES:,} limit")
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as handle:
            # Read one byte past the limit: a gzip bomb is refused without being inflated.
            data = handle.read(MAX_HTML_BYTES + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        return Skipped(origin, f"broken gzip file: {exc or type(exc).__name__}")
    if len(data) > MAX_HTML_BYTES:
        return Skipped(origin, f"page is over the {MAX_HTML_BYTES:,} byte limit once gunzipped")
    return data


def decode_html(data: bytes, declared: str | None = None) -> tuple[str, str] | str:
    """(text, encoding) of a page's bytes, or the reason they cannot be read as text.

    `declared` is a charset from outside the page (an HTTP header); the page's BOM wins over
    it and it wins over a `<meta charset>`, as in browsers. Bytes that are valid UTF-8 with
    non-ASCII letters are read as UTF-8 whatever is declared: by chance, text in a legacy
    8-bit charset is practically never valid UTF-8, while pages saved as UTF-8 under an old
    `iso-8859-1` declaration are common."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError as exc:
                return (
                    f"charset does not match: the {encoding} BOM is followed by bad bytes "
                    f"({exc.reason} at {exc.start})"
                )
    if data.startswith(codecs.BOM_UTF16_BE):
        try:
            return data[2:].decode("utf-16-be"), "utf-16-be"
        except UnicodeDecodeError as exc:
            return f"charset does not match: bad UTF-16 ({exc.reason} at {exc.start})"
    if b"\x00" in data[:4096]:
        return "not HTML: binary data (NUL bytes)"
    if not declared and (match := _META_CHARSET.search(data[:4096])):
        declared = match.group(1).decode("ascii", "replace")
    try:
        text = data.decode("utf-8")
        return text, "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    name = _codec_name(declared)
    if name and name != "utf-8":
        try:
            return data.decode(name), name
        except UnicodeDecodeError as exc:
            return (
                f"charset does not match: the page says {declared!r} but byte {exc.start} "
                f"is not {declared!r}, and the bytes are not UTF-8 either"
            )
    if name is None and declared is None:
        # Nothing declared and not UTF-8: a legacy page; guess as browsers do.
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
        if best is not None:
            try:
                return data.decode(best.encoding), best.encoding
            except (UnicodeDecodeError, LookupError):
                pass
    bad = len(re.findall(rb"[\x80-\xff]", data)) - _utf8_good_bytes(data)
    if bad <= max(1, int(len(data) * MAX_BAD_BYTE_RATE)):
        return data.decode("utf-8", errors="replace"), "utf-8"
    said = f"says {declared!r}" if declared else "declares no charset"
    return (
        f"charset does not match: the page {said} but is not valid UTF-8 "
        f"(first bad byte at {utf8_error.start})"
    )


def _utf8_good_bytes(data: bytes) -> int:
    """How many non-ASCII bytes belong to well-formed UTF-8 sequences."""
    return sum(
        len(m)
        for m in re.findall(
            rb"(?:[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})", data
        )
    )


def _codec_name(label: str | None) -> str | None:
    """Python's codec for a charset label, None when unknown (the label is then ignored)."""
    if not label:
        return None
    label = label.strip().lower()
    if label in {"latin1", "iso-8859-1", "us-ascii", "ascii"}:
        label = "cp1252"  # the WHATWG encoding standard reads these labels as windows-1252
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def parse_html(
    data: bytes,
    *,
    article_id: str,
    origin: str,
    url: str | None = None,
    charset: str | None = None,
) -> Article | Skipped:
    """A page's bytes as an Article; `url` and `charset` come from outside (a WARC record)."""
    if len(data) > MAX_HTML_BYTES:
        return Skipped(origin, f"page is {len(data):,} bytes, over the {MAX_HTML_BYTES:,} limit")
    if not data.strip():
        return Skipped(origin, "empty page: no bytes but white space")
    decoded = decode_html(data, charset)
    if isinstance(decoded, str):
        return Skipped(origin, decoded)
    text, _encoding = decoded
    if "\x00" in text:
        return Skipped(origin, "not HTML: binary data (NUL characters)")
    if not _TAG.search(text[:65536]):
        return Skipped(origin, "not HTML: no HTML tags in the first 64 KB")
    try:
        return _extract(text, article_id=article_id, origin=origin, url=url)
    except (ValueError, TypeError, RecursionError) as exc:
        # lxml raises ValueError/ParserError on pathological markup; one page, not the build.
        log.warning("cannot parse %s: %s", origin, exc)
        return Skipped(origin, f"cannot parse the HTML: {type(exc).__name__}: {exc}")


def _extract(text: str, *, article_id: str, origin: str, url: str | None) -> Article | Skipped:
    import trafilatura
    from trafilatura.settings import Document

    tree = trafilatura.load_html(text)
    if tree is None:
        return Skipped(origin, "not HTML: the parser found no document")
    if not _visible_text(tree):
        return Skipped(origin, "empty page: no visible text (only markup or scripts)")
    facts = read_page_facts(tree)
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        # extensive_search off: a date only from markup or the URL, never from the prose.
        date_extraction_params={"extensive_search": False, "original_date": True},
        include_comments=EXTRACT_SETTINGS["include_comments"],
        include_tables=EXTRACT_SETTINGS["include_tables"],
        favor_precision=EXTRACT_SETTINGS["favor_precision"],
        favor_recall=EXTRACT_SETTINGS["favor_recall"],
    )
    body = (document.text or "").strip() if isinstance(document, Document) else ""
    if not isinstance(document, Document) or len(body) < MIN_TEXT_CHARS:
        return Skipped(origin, "no main text found in the page (navigation or stubs only)")
    paragraphs = [" ".join(line.split()) for line in body.splitlines()]
    clean = "\n\n".join(p for p in paragraphs if p)
    page_url = url or _web_url(document.url) or _web_url(facts.canonical)
    extra: dict[str, Any] = dict(facts.extra)
    if facts.language:
        extra["language"] = facts.language
    if facts.canonical and facts.canonical != page_url and _web_url(facts.canonical):
        extra["canonical_url"] = facts.canonical
    tags: dict[str, list[str]] = {}
    for key, values in (("categories", document.categories), ("tags", document.tags)):
        kept = [v.strip() for v in values or [] if v and v.strip()]
        if kept:
            tags[key] = kept
    published = parse_iso_date(document.date) if document.date else None
    return Article(
        id=article_id,
        title=(document.title or "").strip(),
        text=clean,
        author=_authors(document.author),
        publication=(document.sitename or "").strip() or None,
        published=published,
        url=page_url,
        copyright=facts.copyright,
        license=facts.license or (document.license or None),
        tags=tags,
        extra=extra,
        origin=origin,
    )


def _visible_text(tree: Any) -> bool:
    """True when the page has text outside scripts, styles and templates."""
    for node in tree.iter():
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag.lower() in {"script", "style", "noscript", "template", "head", "title"}:
            continue
        if node.text and node.text.strip():
            parent_tags = {a.tag for a in node.iterancestors() if isinstance(a.tag, str)}
            if not parent_tags & {"script", "style", "noscript", "template", "head"}:
                return True
        if node.tail and node.tail.strip():
            return True
    return False


def _authors(raw: str | None) -> str | None:
    """trafilatura's "A; B" as the readers' "A, B"."""
    if not raw:
        return None
    names = [n.strip() for n in raw.split(";") if n.strip()]
    return ", ".join(names) or None


def _web_url(url: str | None) -> str | None:
    if url and url.lower().startswith(("http://", "https://")) and len(url) > len("https://"):
        return url.strip()
    return None


def read_page_facts(tree: Any) -> PageFacts:
    """Language, copyright, licence and canonical URL, as the page's markup states them."""
    facts = PageFacts()
    root = tree.getroottree().getroot() if hasattr(tree, "getroottree") else tree
    lang = root.get("lang") or root.get("xml:lang")
    metas: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("name") or meta.get("property") or meta.get("http-equiv") or "").lower()
        content = (meta.get("content") or "").strip()
        if key and content and key not in metas:
            metas[key] = content
    lang = (
        lang or metas.get("content-language") or metas.get("dc.language") or metas.get("og:locale")
    )
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rel and href and not facts.canonical:
            facts.canonical = href
        if "license" in rel and href and not facts.license:
            facts.license = href
    for anchor in tree.iter("a"):
        if "license" in (anchor.get("rel") or "").lower().split() and anchor.get("href"):
            facts.license = facts.license or anchor.get("href").strip()
            break
    facts.copyright = next((metas[k] for k in _COPYRIGHT_META if metas.get(k)), None)
    facts.license = facts.license or next((metas[k] for k in _LICENSE_META if metas.get(k)), None)
    for item in _json_ld_items(tree):
        lang = lang or _ld_text(item.get("inLanguage"))
        facts.license = facts.license or _ld_text(item.get("license"))
        if not facts.copyright:
            notice = _ld_text(item.get("copyrightNotice"))
            holder = _ld_text(item.get("copyrightHolder"))
            year = _ld_text(item.get("copyrightYear"))
            if notice:
                facts.copyright = notice
            elif holder:
                facts.copyright = f"© {year} {holder}" if year else f"© {holder}"
    facts.copyright = facts.copyright or _footer_copyright(tree)
    if lang:
        facts.language = _language_tag(lang)
    return facts


def _language_tag(raw: str) -> str | None:
    """`en_US` / `EN-us` as `en-US`; None for a value that is no language tag."""
    raw = raw.strip().replace("_", "-")
    if not re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*", raw):
        return None
    primary, *rest = raw.split("-")
    return "-".join([primary.lower(), *(r.upper() if len(r) == 2 else r for r in rest)])


def _json_ld_items(tree: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD scripts, `@graph` members included."""
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text[:_JSONLD_LIMIT])
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def _ld_text(value: Any) -> str | None:
    """A JSON-LD value (a string, a number, an object with a name or @id) as text."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("@id") or value.get("url")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value.strip() or None if isinstance(value, str) else None


def _footer_copyright(tree: Any) -> str | None:
    """A short "© 2021 Example News" line from the page's footer, if it has one."""
    candidates = tree.xpath(
        "//footer | //*[contains(translate(@class,'FOTER','foter'),'footer') or "
        "contains(translate(@id,'FOTER','foter'),'footer') or "
        "contains(translate(@class,'COPYRIGHT','copyright'),'copyright')]"
    )
    for node in candidates[:20]:
        # Pre-order: the largest element still short enough is the whole line, however
        # many spans its "©", year and name are split over.
        for element in node.iter():
            if not isinstance(element.tag, str):
                continue
            line = " ".join(element.text_content().split())
            if line and len(line) <= MAX_COPYRIGHT_CHARS and _COPYRIGHT_LINE.search(line):
                return line
    return None
