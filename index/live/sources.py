"""Boilerplate learned again as a source grows in a live index.

A write learns the blocks its own batch repeats (`semsearch.index.ingest.collection`) and
applies those learned before; a source written an article or two at a time never repeats a
block within one batch, so its template would never be learned. So the store counts each
source's articles (`live_sources`, and `live_source_articles` in write order) and, when a
source has grown by `live_relearn_factor` since its boilerplate was last learned (the first
time at that factor times `MIN_REPEATS` articles), a write learns it again from the
source's newest stored articles (at most `RELEARN_SAMPLE`) together with the batch's, and
keeps what it finds with the source's blocks. Learning is per doubling, not per write: each
article is read by a relearn a bounded number of times (the sample caps one relearn's cost).

The blocks apply to the articles written from then on. Articles already stored keep their
text: cleaning them again would re-embed them, a cost that grows with the source. A
rebuild (or writing an article again) cleans them with everything learned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.boilerplate import MIN_REPEATS

#: Newest stored articles of a source a relearn reads (2 % of them must repeat a block).
RELEARN_SAMPLE = 1_000


def counts(db: sqlite3.Connection, sources: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Each source's stored articles and the count its boilerplate was last learned at."""
    out: dict[str, tuple[int, int]] = {}
    for source in dict.fromkeys(sources):
        row = db.execute(
            "SELECT articles, learned_at FROM live_sources WHERE source = ?", (source,)
        ).fetchone()
        if row is not None:
            out[source] = (int(row[0]), int(row[1]))
    return out


def is_due(articles: int, learned_at: int, factor: float) -> bool:
    """Whether a source of `articles` articles, last learned at `learned_at`, has grown
    enough to be learned again."""
    return articles >= factor * max(learned_at, MIN_REPEATS)


def newest_articles(db: sqlite3.Connection, source: str, limit: int) -> list[Article]:
    """A source's newest stored articles (title, text and what names the source)."""
    rows = db.execute(
        "SELECT a.id, a.title, a.text, a.publication, a.url FROM live_source_articles s "
        "JOIN articles a ON a.id = s.article_id WHERE s.source = ? ORDER BY s.seq DESC LIMIT ?",
        (source, limit),
    ).fetchall()
    return [
        Article(id=str(i), title=str(t), text=str(x), publication=p, url=u)
        for i, t, x, p, u in rows
    ]


def add_article(db: sqlite3.Connection, source: str | None, article_id: str) -> None:
    """Count a stored article in its source (in the caller's transaction)."""
    if source is None:
        return
    seq = db.execute(
        "SELECT coalesce(max(seq), 0) + 1 FROM live_source_articles WHERE source = ?", (source,)
    ).fetchone()[0]
    db.execute("INSERT INTO live_source_articles VALUES (?, ?, ?)", (source, article_id, seq))
    db.execute(
        "INSERT INTO live_sources VALUES (?, 1, 0) "
        "ON CONFLICT(source) DO UPDATE SET articles = articles + 1",
        (source,),
    )


def remove_article(db: sqlite3.Connection, article_id: str) -> None:
    """Stop counting a removed article in its source."""
    rows = db.execute(
        "SELECT source FROM live_source_articles WHERE article_id = ?", (article_id,)
    ).fetchall()
    db.execute("DELETE FROM live_source_articles WHERE article_id = ?", (article_id,))
    db.executemany(
        "UPDATE live_sources SET articles = articles - 1 WHERE source = ?",
        [(r[0],) for r in rows],
    )


def mark_learned(db: sqlite3.Connection, learned_at: dict[str, int]) -> None:
    """Record that these sources were learned at these article counts."""
    db.executemany(
        "INSERT INTO live_sources VALUES (?, 0, ?) "
        "ON CONFLICT(source) DO UPDATE SET learned_at = max(learned_at, excluded.learned_at)",
        list(learned_at.items()),
    )
