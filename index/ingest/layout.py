"""Parse scraped articles in the markdown "web page" layout into metadata and clean text.

The layout (see `scripts/demo_articles/`): a `# Title`, a `By Author` line, a
`Publication, Month DD, YYYY` line, `Key: [tag](#), ...` lines, the body, then a footer that
starts at "The original source of this article is ..." or a `Copyright ©` line and holds
member/comment prompts, "Articles by", an author bio, a disclaimer and a fair-use notice.
Site plugs and contact lines (web-site and blog links, e-mail addresses, book promos) can
appear anywhere in the body.

The rules describe that layout, not one publication's wording: a block is boilerplate
because of its shape (short, made of links, carrying an e-mail address, a call to action),
and the footer is recognised by its opening line. What is removed from the searchable text
is kept as metadata when it credits someone (contacts, links, bio, copyright, licence).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dateutil import parser as dateparser

# Repeats are bounded, and stop at the next opener, so that unmatched brackets or delimiters
# cannot make a scan quadratic: each failed attempt ends where the next one starts.
_LINK = re.compile(r"!?\[([^\]\[]{0,500})\]\(([^()\[\]\s]{0,2000})(?:\s+\"[^\"]{0,300}\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^<>\s]{1,2000})>")
_BARE_URL = re.compile(r"\b(?:https?://|www\.)[^\s)>\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
# `*x*`, `**x**`, `_x_`, `__x__`; the emphasised text holds no delimiter of its own kind
# (nested emphasis is taken apart one level per pass, see `strip_markdown`).
_EMPHASIS = re.compile(
    r"(\*\*?)(?=[^\s*])([^*\n]{1,400}?)(?<=\S)\1|(__?)(?=[^\s_])([^_\n]{1,400}?)(?<=\S)\3"
)
_BY_LINE = re.compile(r"^(?:by|written by|author:)\s+(.+)$", re.IGNORECASE)
_TAG_LINE = re.compile(r"^([A-Z][\w -]{1,30}):\s+(.+)$")
_FIELD_LINE = re.compile(
    r"^(published|date|updated|url|source|link|canonical|publication|publisher|license|licence)"
    r"\s*:\s+(.+)$",
    re.IGNORECASE,
)
_DATE_TEXT = (
    r"(?:\d{4}-\d{2}-\d{2}"
    r"|[A-Z][a-z]{2,8}\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}"
    r"|\d{1,2} [A-Z][a-z]{2,8}\.? \d{4})"
)
_PUB_DATE_LINE = re.compile(rf"^(?P<pub>[^,]{{2,80}}),\s*(?P<date>{_DATE_TEXT})\.?$")
_ORIGINAL_SOURCE = re.compile(
    r"^(?:the\s+)?original\s+source(?:\s+of\s+this\s+(?:article|post|story))?\s*(?:is|:)\s*(.+)$",
    re.IGNORECASE,
)
_COPYRIGHT = re.compile(r"^(?:copyright\s*(?:©|\(c\)|\d{4})|©|\(c\)\s)", re.IGNORECASE)
_RULE = re.compile(r"^(?:-{3,}|\*{3,}|_{3,})$")
_CALL_TO_ACTION = re.compile(
    r"\b(?:visit|follow|subscribe|sign up|donate|support us|join us|become a (?:member|patron|"
    r"subscriber)|comment on|like us|share this|contact|reach (?:me|him|her|us|them|the authors?)|"
    r"e-?mail|write to|send tips|tips|sent to|read more|find more|see more|more of|listen to|"
    r"watch)\b",
    re.IGNORECASE,
)
_STRONG_PLUG_TARGET = re.compile(
    r"\b(?:web ?site|blog|newsletter|facebook|twitter|telegram|youtube|patreon|podcast|"
    r"mailing list|membership)\b",
    re.IGNORECASE,
)
_IMPERATIVE_START = re.compile(
    r"^(?:please\s+)?(?:visit|follow|subscribe|sign up|donate|support|join|like|share|"
    r"comment|contact|e-?mail|write|send|read|find|see|listen|become|click|tips)\b",
    re.IGNORECASE,
)
# An address offered to the reader: "at a@b.org", "to a@b.org", "Email: a@b.org".
_ADDRESSED_EMAIL = re.compile(r"(?:\bat|\bto|:)\s*[\w.+-]{1,64}@[\w-]{1,63}\.", re.IGNORECASE)
_REPORTING = re.compile(
    r"\b(?:said|says|told|tells|according to|announced|reported|asked)\b", re.IGNORECASE
)
_BIO_VERBS = (
    r"(?:'s|’s)?\s+(?:is|was|writes|wrote|covers|lives|reports|has written|book|new|latest|"
    r"newsletter|blog|podcast|column|history|cookbook|novel|memoir)\b"
)
_PLUG_TARGET = re.compile(
    r"\b(?:web ?site|site|blog|page|newsletter|facebook|twitter|telegram|youtube|patreon|"
    r"podcast|channel|mailing list|membership)\b",
    re.IGNORECASE,
)
_PROMO = re.compile(
    r"\b(?:my|his|her|our|their)\s+(?:new|newest|latest|forthcoming|recent)\s+"
    r"(?:book|novel|e-?book|newsletter|podcast|film|documentary)\b"
    r"|\b(?:book|cookbook|novel|memoir|e-?book|history|guide|newsletter)\b[^.]{0,160}"
    r"\b(?:is|are) (?:out|now out|available|on sale|published)\b",
    re.IGNORECASE,
)
_BIO_HEADING = re.compile(r"^about the authors?:?$", re.IGNORECASE)
_DISCLAIMER = re.compile(r"^disclaimer\b", re.IGNORECASE)
_ARTICLES_BY = re.compile(r"^(?:articles|posts|more) by\s*:\s*(.+)$", re.IGNORECASE)
_FAIR_USE = re.compile(r"\bfair use\b", re.IGNORECASE)
_MEDIA_INQUIRY = re.compile(r"\b(?:media|press) (?:inquiries|enquiries|contact)\b", re.IGNORECASE)
_ESCAPED = re.compile(r"\\([^\w\s])")
_DOMAIN_TEXT = re.compile(r"^(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+/?$", re.IGNORECASE)

#: Longest block (in words) that can be judged a plug or contact line from its wording alone.
PLUG_MAX_WORDS = 45
#: Longest first line (in words) of the block that opens the footer.
FOOTER_LINE_MAX_WORDS = 20
#: Longest text read as a date ("Thursday, November 09, 2017 10:30 AM EST" is 40).
MAX_DATE_CHARS = 100


@dataclass
class ParsedLayout:
    """What the layout parser found: metadata fields, the clean text, what it removed."""

    title: str | None = None
    author: str | None = None
    publication: str | None = None
    published: str | None = None
    url: str | None = None
    copyright: str | None = None
    license: str | None = None
    source_note: str | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # boilerplate blocks, as plain text


def strip_markdown(text: str, links: list[str] | None = None) -> str:
    """Markdown inline syntax to plain text; link targets are appended to `links`."""

    def keep_link_text(match: re.Match[str]) -> str:
        if links is not None and match.group(2) and match.group(2) != "#":
            links.append(match.group(2))
        return match.group(1)

    def drop_autolink(match: re.Match[str]) -> str:
        if links is not None:
            links.append(match.group(1))
        return ""

    text = _LINK.sub(keep_link_text, text)
    text = _AUTOLINK.sub(drop_autolink, text)
    previous = None
    while previous != text:  # nested emphasis: ***x*** and **_x_**
        previous = text
        text = _EMPHASIS.sub(lambda m: m.group(2) or m.group(4), text)
    text = html.unescape(_ESCAPED.sub(r"\1", text))
    return re.sub(r"[ \t]+", " ", text).strip()


def parse_iso_date(text: str) -> str | None:
    """A date written in any common form, as YYYY-MM-DD; None when it is not a full date."""
    text = text.strip().rstrip(".")
    # dateutil's time is quadratic in the length of its input; no written date is long.
    if not text or len(text) > MAX_DATE_CHARS or not re.search(r"\d{4}", text):
        return None
    try:
        # Two different defaults reveal a missing day or month instead of inventing one.
        first = dateparser.parse(text, default=datetime(1904, 1, 1), fuzzy=False)
        second = dateparser.parse(text, default=datetime(1908, 2, 2), fuzzy=False)
    except (ValueError, OverflowError):
        return None
    if first.date() != second.date():
        return None
    return str(first.date().isoformat())


def parse_localized_date(text: str, language: str) -> str | None:
    """A full date written in `language` ("3. März 2019", "5 de mayo de 2020", "2019年3月5日")
    as YYYY-MM-DD, read by the dateparser library in that one language (loading every
    language's data would take most of a minute); None when it is not a full date."""
    text = text.strip()
    if not language or not text or len(text) > MAX_DATE_CHARS or not re.search(r"\d{4}", text):
        return None
    import dateparser as localized

    try:
        found = localized.parse(
            text, languages=[language], settings={"REQUIRE_PARTS": ["day", "month", "year"]}
        )
    except (ValueError, OverflowError, KeyError):  # KeyError: a language it does not know
        return None
    return None if found is None else found.date().isoformat()


def _split_blocks(text: str) -> list[str]:
    """Blank-line separated blocks, each with its lines stripped of trailing spaces."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _link_free_words(block: str) -> int:
    """Words left once links, URLs and e-mail addresses are taken out."""
    rest = _LINK.sub("", block)
    rest = _AUTOLINK.sub("", rest)
    rest = _BARE_URL.sub("", rest)
    rest = _EMAIL.sub("", rest)
    return _words(rest)


def _names(author: str | None) -> list[str]:
    """The full names in a byline ("A and B", "A, B"), two words or more each."""
    if not author:
        return []
    parts = re.split(r",|\band\b|&", author)
    return [p.strip() for p in parts if len(p.split()) >= 2]


def is_boilerplate(block: str, author: str | None = None) -> bool:
    """True for site plugs, contact lines, promos and link-only lines; false for prose.

    Judged by shape: short, carrying a link or an e-mail address, phrased as a call to
    action or a promotion. Reported speech ("said", "according to") is always prose. `author`
    is the byline: a short bio-shaped block about the article's own author is a bio."""
    plain = strip_markdown(block)
    words = _words(plain)
    has_link = bool(_LINK.search(block) or _AUTOLINK.search(block) or _BARE_URL.search(block))
    has_email = bool(_EMAIL.search(block))
    if (has_link or has_email) and _link_free_words(block) <= 2:
        return True  # a bare link, a URL, "(Home - ...)."
    if words > PLUG_MAX_WORDS or _REPORTING.search(plain):
        return False
    if _PROMO.search(plain):
        return True
    call_to_action = _CALL_TO_ACTION.search(plain)
    if call_to_action and (has_link or _ADDRESSED_EMAIL.search(plain)):
        return True  # "Contact at a@b.org", "Follow his notes at example.org"
    if _IMPERATIVE_START.match(plain) and _STRONG_PLUG_TARGET.search(plain):
        return True  # "Subscribe to our weekly newsletter"
    for name in _names(author):
        bio_shaped = re.search(re.escape(name) + _BIO_VERBS, plain, re.IGNORECASE)
        if bio_shaped or (name.lower() in plain.lower() and (has_link or has_email)):
            return True
    site_links = [t for t, _ in _LINK.findall(block) if _DOMAIN_TEXT.match(t.strip().split("/")[0])]
    if site_links and words <= 25:
        return True  # "Find more of our coverage at example.org/fields."
    letters = re.sub(r"[^A-Za-z]", "", plain)
    # "VISIT MY NEW WEB SITE:" — a shouted lead-in to a link on the next line.
    return bool(letters) and letters.isupper() and plain.endswith(":") and words <= 12


_NAME_JOINERS = {
    "and",
    "&",
    "de",
    "da",
    "del",
    "della",
    "der",
    "van",
    "von",
    "la",
    "le",
    "bin",
    "al",
    "of",
    "the",
    "y",
    "du",
    "st",
    "ibn",
}


def _looks_like_names(text: str) -> bool:
    """A byline ("Ann Lee and Bo Kim", "Associated Press"), not "By the end of 2019, ...":
    a few capitalised words and joiners, no digits, no sentence end."""
    words = re.findall(r"[\w'’.-]+", text)
    if not words or len(words) > 12 or re.search(r"\d|[.!?]\s*$(?<!\b[A-Z]\.)", text.strip()):
        return False
    return all(w[0].isupper() or w.lower() in _NAME_JOINERS for w in words)


def _looks_like_tag_values(value: str) -> bool:
    """Tag values: links (`[Theme](#)`), or a short comma list, never a sentence."""
    if "](" in value:
        return True
    items = [item.strip() for item in value.split(",")]
    return (
        not re.search(r"[.!?…:;]\s*$", value.strip())
        and all(0 < _words(item) <= 4 for item in items)
        and _words(value) <= 12
    )


def _tag_values(value: str) -> list[str]:
    links = _LINK.findall(value)
    if links:
        return [text.strip() for text, _ in links if text.strip()]
    return [v.strip() for v in strip_markdown(value).split(",") if v.strip()]


def _parse_header(block: str, parsed: ParsedLayout, links: list[str]) -> bool:
    """Take a header field out of `block`; True when the block was header metadata."""
    first_line = block.splitlines()[0].strip()
    heading = _HEADING.match(first_line)
    if heading and parsed.title is None and "\n" not in block:
        parsed.title = strip_markdown(heading.group(1))
        return True
    block_links: list[str] = []
    plain = strip_markdown(block, block_links)
    links.extend(block_links)
    by_line = _BY_LINE.match(plain)
    if by_line and parsed.author is None and _looks_like_names(by_line.group(1)):
        parsed.author = by_line.group(1).strip().rstrip(".")
        return True
    pub_date = _PUB_DATE_LINE.match(plain)
    if pub_date and parsed.published is None:
        iso = parse_iso_date(pub_date.group("date"))
        if iso:
            parsed.published = iso
            parsed.publication = parsed.publication or pub_date.group("pub").strip()
            return True
    if parsed.published is None and _words(plain) <= 6 and (iso := parse_iso_date(plain)):
        parsed.published = iso
        return True
    field_line = _FIELD_LINE.match(plain)
    if field_line and "\n" not in block:
        key, value = field_line.group(1).lower(), field_line.group(2).strip()
        # "Published: 5 Jan 2020 | Updated: 6 Jan 2020" — the first date is the publication.
        first_value = value.split("|")[0]
        if key in {"published", "date", "updated"} and (iso := parse_iso_date(first_value)):
            parsed.published = parsed.published or iso
            return True
        if key in {"url", "source", "link", "canonical"} and (
            match := _BARE_URL.search(block) or _AUTOLINK.search(block)
        ):
            found = block_links[-1] if block_links else match.group(match.lastindex or 0)
            parsed.url = parsed.url or found
            return True
        if key in {"publication", "publisher"}:
            parsed.publication = parsed.publication or value
            return True
        if key in {"license", "licence"}:
            parsed.license = parsed.license or value
            return True
    tag = _TAG_LINE.match(block.replace("\n", " "))
    if (
        tag
        and "\n" not in block
        and _words(tag.group(1)) <= 3
        and _looks_like_tag_values(tag.group(2))
        and not _EMAIL.search(block)  # "Email the newsroom: [a@b.org](mailto:...)" is contact
    ):
        key = tag.group(1).strip().lower().replace(" ", "_").replace("-", "_")
        parsed.tags[key] = _tag_values(tag.group(2))
        return True
    return False


def _is_footer_start(block: str) -> bool:
    plain = strip_markdown(block)
    first = plain.splitlines()[0] if plain else ""
    if _words(first) > FOOTER_LINE_MAX_WORDS:
        return False  # a paragraph that merely starts with "Copyright ..." is prose
    return bool(
        _ORIGINAL_SOURCE.match(first) or _COPYRIGHT.match(first) or _ARTICLES_BY.match(first)
    )


def _parse_footer(blocks: list[str], parsed: ParsedLayout) -> None:
    """Copyright, original source, bio, disclaimer and site link out of the footer blocks."""
    bio: list[str] = []
    in_bio = False
    for block in blocks:
        links: list[str] = []
        for raw_line in block.splitlines():
            line = strip_markdown(raw_line.strip().lstrip("#").strip(), links)
            if not line or _RULE.match(raw_line.strip()):
                continue
            if source := _ORIGINAL_SOURCE.match(line):
                parsed.source_note = line
                parsed.publication = parsed.publication or source.group(1).strip().rstrip(".")
            elif _COPYRIGHT.match(line) and parsed.copyright is None:
                parsed.copyright = line
            elif articles_by := _ARTICLES_BY.match(line):
                parsed.author = parsed.author or articles_by.group(1).strip()
            elif _BIO_HEADING.match(line):
                in_bio = True
                continue
            elif _DISCLAIMER.match(line):
                in_bio = False
                parsed.license = parsed.license or line
            elif _FAIR_USE.search(line):
                in_bio = False
                parsed.extra["fair_use_notice"] = line
            elif _MEDIA_INQUIRY.search(line):
                in_bio = False
                parsed.extra.setdefault("contacts", []).extend(_EMAIL.findall(line))
            elif in_bio:
                bio.append(line)
        for match in _LINK.finditer(block):
            is_site = _DOMAIN_TEXT.match(match.group(1).strip()) and match.group(2).startswith(
                "http"
            )
            # The fair-use notice names the publisher's own site; a bio names the author's.
            if is_site and (_FAIR_USE.search(block) or "site_url" not in parsed.extra):
                parsed.extra["site_url"] = match.group(2)
        if links:
            parsed.extra.setdefault("footer_links", []).extend(links)
    if bio:
        parsed.extra["author_bio"] = " ".join(bio)


def parse_layout(raw: str) -> ParsedLayout:
    """Split a markdown web-page article into metadata, clean body text and boilerplate."""
    parsed = ParsedLayout()
    blocks = _split_blocks(raw)
    footer_at = next(
        (i for i, block in enumerate(blocks) if i > 0 and _is_footer_start(block)), len(blocks)
    )
    body_blocks: list[str] = []
    links: list[str] = []
    in_header = True
    for block in blocks[:footer_at]:
        if in_header and _parse_header(block, parsed, links):
            continue
        if _RULE.match(block.strip()):
            continue
        if is_boilerplate(block, parsed.author):
            plain = strip_markdown(block, links)
            parsed.removed.append(plain)
            parsed.extra.setdefault("contacts", []).extend(_EMAIL.findall(block))
            continue
        heading = _HEADING.match(block)
        if heading and parsed.title is None and in_header:
            parsed.title = strip_markdown(heading.group(1))
            continue
        in_header = False
        text = block if not heading else heading.group(1)
        # A hard line break inside a paragraph ("  \n") is a line; a soft wrap is a space.
        lines = [strip_markdown(line, links) for line in text.splitlines()]
        body_blocks.append(" ".join(line for line in lines if line))
    _parse_footer(blocks[footer_at:], parsed)
    parsed.removed.extend(strip_markdown(block) for block in blocks[footer_at:])
    parsed.removed = [block for block in parsed.removed if block]
    parsed.text = "\n\n".join(block for block in body_blocks if block)
    if links:
        parsed.extra["links"] = sorted(set(links))
    if parsed.extra.get("contacts"):
        parsed.extra["contacts"] = sorted(set(parsed.extra["contacts"]))
    return parsed
