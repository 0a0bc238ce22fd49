"""The SQLite store beside the vectors: articles and chunks.

FAISS ids are chunk ids (`chunks.id`), so a vector maps to its passage and article by key,
never by position; the keyword index (`keyword_index`, bm25s) shares those ids. Stores built
before it was the one keyword index also hold an FTS5 table, `chunks_fts`: reading ignores
it, and an update drops it from its copy.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semsearch.index.ingest.articles import Article
from semsearch.index.text.analysis import fold_case
from semsearch.index.text.chunking import Chunk

SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    author TEXT,
    publication TEXT,
    published TEXT,
    url TEXT,
    copyright TEXT,
    license TEXT,
    source_note TEXT,
    tags TEXT NOT NULL,
    extra TEXT NOT NULL,
    origin TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    text TEXT NOT NULL,
    sentences TEXT NOT NULL  -- JSON [[start, end], ...], offsets in the chunk text
);
CREATE INDEX chunks_by_article ON chunks(article_id, ordinal);
"""


_CHUNK_SELECT = """SELECT c.id, c.ordinal, c.start, c.end, c.text AS chunk_text, c.sentences,
       a.id AS article_id, a.title, a.author, a.publication, a.published,
       a.url, a.copyright, a.license, a.source_note, a.tags, a.extra
FROM chunks c JOIN articles a ON a.id = c.article_id"""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk row joined with its article row, as the search side reads it."""

    chunk_id: int
    ordinal: int
    start: int
    end: int
    text: str
    article: dict[str, Any]
    sentences: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class StoredArticle:
    """An article row as stored: metadata (`article`, the same keys as a StoredChunk's),
    where it was read from, its other stored fields, its clean text, and its passages as
    (chunk id, start, end) offsets into that text, in reading order."""

    article: dict[str, Any]
    origin: str
    extra: dict[str, Any]
    text: str
    passages: tuple[tuple[int, int, int], ...]


class StoreWriter:
    """Writes a store file inside a staging directory: a new one, or a copy being updated."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        # A staging file (a crash discards it); the in-memory journal still lets one
        # article's inserts be rolled back.
        self.db.execute("PRAGMA journal_mode = MEMORY")
        self.db.execute("PRAGMA synchronous = OFF")
        if create:
            self.db.executescript(SCHEMA)
        # Chunk ids only grow: an update's new chunks come after every existing one.
        self.next_chunk_id = (
            int(self.db.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) + 1
        )

    @classmethod
    def copy_of(cls, source: Path, path: Path) -> StoreWriter:
        """A writer on a consistent copy of a published store (SQLite's backup API)."""
        with contextlib.closing(StoreReader(source).connect()) as src:
            dst = sqlite3.connect(path)
            try:
                src.backup(dst)
            finally:
                dst.close()
        writer = cls(path, create=False)
        # The FTS5 keyword table of older stores: nothing reads it, and kept it would go
        # stale with this update's changes.
        writer.db.execute("DROP TABLE IF EXISTS chunks_fts")
        return writer

    def content_hash(self, article_id: str) -> str | None:
        """The stored content hash of an article, or None when it is not in the store."""
        row = self.db.execute(
            "SELECT content_hash FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def remove(self, article_id: str) -> list[int]:
        """Delete an article and its chunks; returns the chunk ids."""
        ids = [
            int(row[0])
            for row in self.db.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))
        ]
        self.db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
        self.db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return ids

    def counts(self) -> dict[str, int]:
        """How many articles and chunks the store holds now."""
        articles = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        chunks = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"articles": int(articles), "chunks": int(chunks)}

    def add(self, article: Article, chunks: list[Chunk]) -> list[int]:
        """Store an article and its chunks, all or nothing; returns the chunk ids."""
        self.db.execute("SAVEPOINT article")
        try:
            ids = self._insert(article, chunks)
        except BaseException:
            self.db.execute("ROLLBACK TO article")
            self.db.execute("RELEASE article")
            raise
        self.db.execute("RELEASE article")
        self.next_chunk_id += len(chunks)
        return ids

    def _insert(self, article: Article, chunks: list[Chunk]) -> list[int]:
        self.db.execute(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.id,
                article.title,
                article.author,
                article.publication,
                article.published,
                article.url,
                article.copyright,
                article.license,
                article.source_note,
                json.dumps(article.tags, ensure_ascii=False),
                json.dumps(article.extra, ensure_ascii=False),
                article.origin,
                article.content_hash(),
                article.text,
            ),
        )
        ids = list(range(self.next_chunk_id, self.next_chunk_id + len(chunks)))
        self.db.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    i,
                    article.id,
                    c.ordinal,
                    c.start,
                    c.end,
                    c.tokens,
                    c.text,
                    json.dumps(c.sentences),
                )
                for i, c in zip(ids, chunks, strict=True)
            ],
        )
        return ids

    def close(self) -> None:
        """Commit, gather the query planner's statistics, and close."""
        self.db.commit()
        self.db.execute("ANALYZE")
        self.db.commit()
        self.db.close()


class StoreReader:
    """Read-only access to a published store; one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        db.row_factory = sqlite3.Row
        db.create_function("fold", 1, _fold, deterministic=True)
        return db

    def fetch_chunks(
        self, db: sqlite3.Connection, chunk_ids: Iterable[int]
    ) -> dict[int, StoredChunk]:
        """Chunks by id, each with its article's metadata."""
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = db.execute(f"{_CHUNK_SELECT} WHERE c.id IN ({marks})", ids).fetchall()
        return {row["id"]: _stored_chunk(row) for row in rows}

    def fetch_article(self, db: sqlite3.Connection, article_id: str) -> StoredArticle | None:
        """One article with its clean text and passage offsets; None for an unknown id."""
        row = db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            return None
        passages = db.execute(
            "SELECT id, start, end FROM chunks WHERE article_id = ? ORDER BY ordinal",
            (article_id,),
        ).fetchall()
        extra = json.loads(row["extra"])
        return StoredArticle(
            article=_article_fields(row, extra),
            origin=row["origin"],
            extra=extra,
            text=row["text"],
            passages=tuple((int(p["id"]), int(p["start"]), int(p["end"])) for p in passages),
        )

    def chunk_ids_where(self, db: sqlite3.Connection, where: str, params: list[Any]) -> list[int]:
        """Ids of the chunks whose article matches an SQL condition on `a` (articles)."""
        sql = f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}"
        return [int(row[0]) for row in db.execute(sql, params)]

    def iter_chunks(self, db: sqlite3.Connection, from_id: int = 1) -> Iterator[StoredChunk]:
        """Every chunk from `from_id` on, in id order, with its article."""
        rows = db.execute(f"{_CHUNK_SELECT} WHERE c.id >= ? ORDER BY c.id", (from_id,))
        yield from (_stored_chunk(row) for row in rows)


def _fold(value: Any) -> Any:
    """Unicode case folding for SQL (SQLite's lower() and NOCASE fold ASCII only)."""
    return fold_case(value) if isinstance(value, str) else value


def _stored_chunk(row: sqlite3.Row) -> StoredChunk:
    extra = json.loads(row["extra"])
    return StoredChunk(
        chunk_id=row["id"],
        ordinal=row["ordinal"],
        start=row["start"],
        end=row["end"],
        text=row["chunk_text"],
        sentences=tuple((int(s), int(e)) for s, e in json.loads(row["sentences"])),
        article=_article_fields(row, extra, id_column="article_id"),
    )


def _article_fields(
    row: sqlite3.Row, extra: dict[str, Any], id_column: str = "id"
) -> dict[str, Any]:
    """The metadata that credits an article, from a row holding the articles columns."""
    return {
        "id": row[id_column],
        "title": row["title"],
        "author": row["author"],
        "publication": row["publication"],
        "published": row["published"],
        "url": row["url"],
        "site_url": extra.get("site_url"),
        "copyright": row["copyright"],
        "license": row["license"],
        "source_note": row["source_note"],
        "tags": json.loads(row["tags"]),
    }
