"""The article record every reader produces, and the report of one that was skipped."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One article: clean searchable text plus everything needed to credit its source."""

    id: str
    title: str
    text: str
    author: str | None = None
    publication: str | None = None
    published: str | None = None  # ISO 8601 date, YYYY-MM-DD
    url: str | None = None
    copyright: str | None = None
    license: str | None = None
    source_note: str | None = None  # e.g. "The original source of this article is ..."
    tags: dict[str, list[str]] = field(default_factory=dict)  # region, theme, ...
    extra: dict[str, Any] = field(default_factory=dict)  # author bio, contacts, links, ...
    origin: str = ""  # "path" or "path:line" the article was read from
    #: Where it came from, for the record (not hashed: moving a file changes no content):
    #: {"file": ..., "line": N} or {"file": ..., "record_id": ..., "fetched": ...} (WARC).
    provenance: dict[str, Any] = field(default_factory=dict)
    #: ISO 639-1 code of the language the text is in ("" unknown; None: not decided yet),
    #: set when the collection is read (`semsearch.index.text.languages.article_language`).
    #: Not hashed: it follows from the text and the declared tag in `extra`.
    language: str | None = None

    def content_hash(self) -> str:
        """Hash of everything that ends up in the index, to detect changed content."""
        payload = json.dumps(
            [
                self.title,
                self.text,
                self.author,
                self.publication,
                self.published,
                self.url,
                self.copyright,
                self.license,
                self.source_note,
                self.tags,
                self.extra,  # site URL, bio, links: served with every hit
            ],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Skipped:
    """An input record that was not indexed, with where it was and why."""

    origin: str  # "path" or "path:line"
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


def stable_id(*parts: str) -> str:
    """A short id derived from stable inputs (a URL, a path, the content)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]
