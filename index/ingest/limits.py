"""What an article may hold, checked once for every reader (`collection.read_collection`):
which ids are valid, and how long each field may be. An article that breaks a rule is
skipped with the reason, like any other bad record, and counted in the build summary.

Ids. An id is a link (`/articles/<id>`, `/api/articles/<id>/cite`), so a valid id is one
every link reaches, in a browser as in the API: 1 to `MAX_ID_CHARS` characters; no control,
format or other invisible characters (newlines, tabs, NUL, bidirectional overrides, ...);
no space at either end; slashes only between non-empty segments, none of them `.` or `..`
(browsers resolve those, and the server merges `//`); no backslash (browsers read it as a
slash); and not ending in `/similar` or `/cite`, which are the routes of an article's
similar articles and citation (`news/cite` would be the citation of `news`).

Field limits, in characters (`FIELD_LIMITS`): far above any real article's, low enough that
one record cannot make a page, an answer or a response header megabytes long.
"""

from __future__ import annotations

import json
import unicodedata

from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.readers import MAX_FIELD_CHARS

#: Longest id.
MAX_ID_CHARS = 256
#: Longest value of each text field, in characters; `text` as the readers' own limit.
FIELD_LIMITS: dict[str, int] = {
    "id": MAX_ID_CHARS,
    "title": 2_000,
    "author": 1_000,
    "publication": 500,
    "url": 4_096,
    "copyright": 2_000,
    "license": 2_000,
    "source_note": 2_000,
    "text": MAX_FIELD_CHARS,
}
#: Most tag values of one article (all tag names together), and the longest tag name or value.
MAX_TAGS = 100
MAX_TAG_CHARS = 200
#: Longest `extra` (author bio, contacts, links, the raw date or URL), as JSON.
MAX_EXTRA_CHARS = 100_000
#: The last segments that name an article's sub-resources, not an article.
ROUTE_WORDS = ("similar", "cite")
#: Unicode categories no id may hold: control, format (bidi overrides, zero-width),
#: surrogate, private use, unassigned, line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def id_problem(article_id: str) -> str | None:
    """Why `article_id` is not a valid id (see the module's doc), or None when it is."""
    if not article_id:
        return "empty id"
    if len(article_id) > MAX_ID_CHARS:
        return f"id is {len(article_id):,} characters, over {MAX_ID_CHARS}"
    for char in article_id:
        if unicodedata.category(char) in _INVISIBLE:
            return (
                f"id {_shown(article_id)} holds the invisible or control character "
                f"U+{ord(char):04X}: no link could reach it"
            )
    if article_id != article_id.strip():
        return f"id {_shown(article_id)} starts or ends with a space"
    if "\\" in article_id:
        return f"id {_shown(article_id)} holds a backslash, which browsers read as a slash"
    segments = article_id.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return (
            f"id {_shown(article_id)} has an empty, '.' or '..' part between slashes, which "
            "a link does not keep"
        )
    if len(segments) > 1 and segments[-1] in ROUTE_WORDS:
        what = "similar articles" if segments[-1] == "similar" else "citation"
        owner = article_id.rsplit("/", 1)[0]
        return (
            f"id {_shown(article_id)} ends in '/{segments[-1]}', which is the address of "
            f"the {what} of {_shown(owner)}"
        )
    return None


def article_problem(article: Article) -> str | None:
    """Why `article` cannot be indexed as it is (its id, or a field over its limit), or None."""
    problem = id_problem(article.id)
    if problem is not None:
        return problem
    for name, limit in FIELD_LIMITS.items():
        value = getattr(article, name)
        if value is not None and len(value) > limit:
            return f"{name} is {len(value):,} characters, over the limit of {limit:,}"
    values = [value for values in article.tags.values() for value in values]
    if len(values) > MAX_TAGS:
        return f"{len(values):,} tags, over the limit of {MAX_TAGS}"
    for name, tag_values in article.tags.items():
        for value in (name, *tag_values):
            if len(value) > MAX_TAG_CHARS:
                return f"a tag is {len(value):,} characters, over the limit of {MAX_TAG_CHARS}"
    extra = len(json.dumps(article.extra, ensure_ascii=False, default=str))
    if extra > MAX_EXTRA_CHARS:
        return f"extra metadata is {extra:,} characters as JSON, over {MAX_EXTRA_CHARS:,}"
    return None


def _shown(article_id: str) -> str:
    """The id quoted for a message, escapes visible, cut short."""
    return repr(article_id[:80]) + ("..." if len(article_id) > 80 else "")
