"""The SQLite store beside the vectors: articles and chunks, the articles' copies and the
boilerplate learned per source.

FAISS ids are chunk ids (`chunks.id`), so a vector maps to its passage and article by key,
never by position; the keyword index (`keyword_index`, bm25s) shares those ids. Stores built
before it was the one keyword index also hold an FTS5 table, `chunks_fts`: reading ignores
it, and an update drops it from its copy.

Format 5 added each article's `provenance` (JSON: input file, line or WARC record id and
fetch date), the `copies` table (other publications of a kept article, found at ingest) and
the `boilerplate` table (the blocks learned per source, applied again to articles an `add`
brings). Older stores stay readable: a missing column reads as no provenance, and a
read-only connection gets an empty temporary `copies` table, so every query runs unchanged;
an update adds all three to its copy.

Format 6 added each article's `language` (`semsearch.index.text.languages`), by which its
words are analysed. In a store older than it a read-only connection sees a temporary
`articles` view with a NULL language (a temporary name hides the main one in SQLite), and
an update gives its copy the column, filled by detection.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.copies import Copy
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
    text TEXT NOT NULL,
    provenance TEXT NOT NULL DEFAULT '{}',
    language TEXT  -- ISO 639-1 code, '' unknown (format 6 on)
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
CREATE TABLE copies (
    article_id TEXT NOT NULL REFERENCES articles(id),  -- the article kept
    copy_id TEXT NOT NULL,
    publication TEXT,
    url TEXT,
    published TEXT,
    origin TEXT NOT NULL,
    similarity REAL NOT NULL
);
CREATE INDEX copies_by_article ON copies(article_id);
CREATE TABLE boilerplate (
    source TEXT NOT NULL,
    block TEXT NOT NULL,  -- semsearch.index.ingest.boilerplate.block_key of the line
    PRIMARY KEY (source, block)
) WITHOUT ROWID;
"""
#: The format-5 additions, for upgrading an older store's copy (`StoreWriter.copy_of`).
_COPIES_SCHEMA = SCHEMA[SCHEMA.index("CREATE TABLE copies") :]
_COPY_COLUMNS = "copy_id, publication, url, published, origin, similarity"
_ARTICLE_COLUMNS = (
    "id, title, author, publication, published, url, copyright, license, source_note, tags, "
    "extra, origin, content_hash, text, provenance, language"
)


_CHUNK_SELECT = """SELECT c.id, c.ordinal, c.start, c.end, c.text AS chunk_text, c.sentences,
       a.id AS article_id, a.title, a.author, a.publication, a.published,
       a.url, a.copyright, a.license, a.source_note, a.tags, a.extra, a.language
FROM chunks c JOIN articles a ON a.id = c.article_id"""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk row joined with its article row, as the search side reads it; `fetch_chunks`
    adds the article's copies to `article` (under "copies", as `fetch_copies` gives them)."""

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
    provenance: dict[str, Any] = field(default_factory=dict)
    copies: tuple[dict[str, Any], ...] = ()


class StoreWriter:
    """Writes a store file inside a staging directory: a new one, or a copy being updated."""

    def __init__(self, path: Path, *, create: bool = True, durable: bool = False) -> None:
        self.path = path
        if durable:
            # A live index's store, written in place: each commit is the commit point of a
            # write, durable before it is acknowledged, read meanwhile by other processes
            # (WAL); the caller opens and commits its transactions (docs/live-index.md).
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
        else:
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
        writer._upgrade()
        return writer

    def _upgrade(self) -> None:
        """Give a store of format 4 or older the provenance column and the copies and
        boilerplate tables."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(articles)")}
        if "provenance" not in columns:
            self.db.execute("ALTER TABLE articles ADD COLUMN provenance TEXT NOT NULL DEFAULT '{}'")
        if not _has_table(self.db, "copies"):
            self.db.executescript(_COPIES_SCHEMA)
        if "language" not in columns:
            self._add_languages()

    def _add_languages(self) -> None:
        """Give a store older than format 6 its language column, each article's found as a
        build finds it (`ingest.collection.with_languages`: declared, else detected when
        detection is sure, else the collection's main language or the text's script's)."""
        from semsearch.index.text.languages import (
            article_language,
            main_language,
            unsure_article_language,
        )

        self.db.execute("ALTER TABLE articles ADD COLUMN language TEXT")
        rows = self.db.execute("SELECT id, title, text, extra FROM articles").fetchall()
        found = []
        for _, title, text, extra in rows:
            declared = json.loads(extra)
            tag = declared.get("language") or declared.get("lang")
            found.append(article_language(tag, title, text))
        main = main_language(found)
        self.db.executemany(
            "UPDATE articles SET language = ? WHERE id = ?",
            [
                (lang or unsure_article_language(title, text, main), article_id)
                for (article_id, title, text, _), lang in zip(rows, found, strict=True)
            ],
        )

    def add_copies(self, article_id: str, copies: Iterable[Copy]) -> None:
        """Record other publications of a stored article (those recorded already once)."""
        known = {
            row[0]
            for row in self.db.execute(
                "SELECT copy_id FROM copies WHERE article_id = ?", (article_id,)
            )
        }
        copies = [c for c in copies if c.id not in known]
        self.db.executemany(
            f"INSERT INTO copies (article_id, {_COPY_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
            [
                (article_id, c.id, c.publication, c.url, c.published, c.origin, c.similarity)
                for c in copies
            ],
        )

    def learned_blocks(self) -> dict[str, set[str]]:
        """The boilerplate blocks learned so far, by source."""
        learned: dict[str, set[str]] = {}
        for source, block in self.db.execute("SELECT source, block FROM boilerplate"):
            learned.setdefault(source, set()).add(block)
        return learned

    def save_learned_blocks(self, learned: dict[str, set[str]]) -> None:
        """Keep learned boilerplate blocks (adding to those stored) for later additions."""
        self.db.executemany(
            "INSERT OR IGNORE INTO boilerplate VALUES (?, ?)",
            [(source, block) for source, blocks in learned.items() for block in sorted(blocks)],
        )

    def main_language(self) -> str:
        """The language most stored articles are in ("" when none is known)."""
        row = self.db.execute(
            "SELECT language FROM articles WHERE language IS NOT NULL AND language != '' "
            "GROUP BY language ORDER BY count(*) DESC, language LIMIT 1"
        ).fetchone()
        return "" if row is None else str(row[0])

    def content_hash(self, article_id: str) -> str | None:
        """The stored content hash of an article, or None when it is not in the store."""
        row = self.db.execute(
            "SELECT content_hash FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def passages_of(self, article_id: str) -> list[tuple[int, str, str]]:
        """An article's passages as (chunk id, article title, passage text), in order."""
        rows = self.db.execute(
            "SELECT c.id, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id "
            "WHERE a.id = ? ORDER BY c.ordinal",
            (article_id,),
        ).fetchall()
        return [(int(i), str(title), str(text)) for i, title, text in rows]

    def remove(self, article_id: str) -> list[int]:
        """Delete an article and its chunks; returns the chunk ids."""
        ids = [
            int(row[0])
            for row in self.db.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))
        ]
        self.db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
        self.db.execute("DELETE FROM copies WHERE article_id = ?", (article_id,))
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
            # Columns named: an upgraded store has them in the order they were added.
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                json.dumps(article.provenance, ensure_ascii=False),
                article.language,
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
        if not _has_table(db, "copies"):
            # A store older than format 5: an empty stand-in, in the connection's own temp
            # schema (allowed read-only), so the filters' SQL needs no second version.
            db.execute(
                "CREATE TEMP TABLE copies (article_id TEXT, copy_id TEXT, publication TEXT, "
                "url TEXT, published TEXT, origin TEXT, similarity REAL)"
            )
        columns = {row[1] for row in db.execute("PRAGMA main.table_info(articles)")}
        if "language" not in columns:
            # A store older than format 6: its articles read with no language.
            db.execute("CREATE TEMP VIEW articles AS SELECT *, NULL AS language FROM main.articles")
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
        chunks = {row["id"]: _stored_chunk(row) for row in rows}
        # Each article's copies ride along under "copies" (one indexed query a page of hits).
        copies = self.fetch_copies(db, (c.article["id"] for c in chunks.values()))
        for chunk in chunks.values():
            chunk.article["copies"] = copies.get(chunk.article["id"], [])
        return chunks

    def article_keys(self, db: sqlite3.Connection, chunk_ids: Iterable[int]) -> dict[int, int]:
        """The article key (its first chunk id, as the article-level index knows it) of
        each of these chunks."""
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"""SELECT c.id, (SELECT min(d.id) FROM chunks d WHERE d.article_id = c.article_id)
                FROM chunks c WHERE c.id IN ({marks})""",
            ids,
        ).fetchall()
        return {int(chunk_id): int(key) for chunk_id, key in rows}

    def titles_of(self, db: sqlite3.Connection, chunk_ids: Iterable[int]) -> dict[int, str]:
        """The title of each of these chunks' articles (a live segment's suggestions)."""
        ids = [int(i) for i in chunk_ids]
        titles: dict[int, str] = {}
        for start in range(0, len(ids), _BATCH):
            marks = ",".join("?" * len(ids[start : start + _BATCH]))
            rows = db.execute(
                f"""SELECT c.id, a.title FROM chunks c JOIN articles a ON a.id = c.article_id
                    WHERE c.id IN ({marks})""",
                ids[start : start + _BATCH],
            )
            titles.update((int(c), str(t or "")) for c, t in rows)
        return titles

    def article_chunk_ids(self, db: sqlite3.Connection, chunk_ids: Iterable[int]) -> list[int]:
        """Every chunk id of the articles these chunks belong to."""
        ids = sorted({int(i) for i in chunk_ids})
        found: list[int] = []
        for start in range(0, len(ids), _BATCH):
            marks = ",".join("?" * len(ids[start : start + _BATCH]))
            rows = db.execute(
                f"""SELECT id FROM chunks WHERE article_id IN
                    (SELECT article_id FROM chunks WHERE id IN ({marks}))""",
                ids[start : start + _BATCH],
            )
            found.extend(int(row[0]) for row in rows)
        return found

    def has_dates(self, db: sqlite3.Connection) -> bool:
        """Whether any article has a publication date."""
        sql = "SELECT 1 FROM articles WHERE published IS NOT NULL AND published != '' LIMIT 1"
        return db.execute(sql).fetchone() is not None

    def copy_owners(self, db: sqlite3.Connection) -> dict[str, str]:
        """Each recorded copy's id and the id of the article it is a copy of."""
        return {row[0]: row[1] for row in db.execute("SELECT copy_id, article_id FROM copies")}

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
        # sqlite3.Row's `in` looks among the values; its names are in keys().
        has_provenance = "provenance" in row.keys()  # noqa: SIM118
        provenance = json.loads(row["provenance"]) if has_provenance else {}
        return StoredArticle(
            article=_article_fields(row, extra),
            origin=row["origin"],
            extra=extra,
            text=row["text"],
            passages=tuple((int(p["id"]), int(p["start"]), int(p["end"])) for p in passages),
            provenance=provenance,
            copies=tuple(self.fetch_copies(db, [article_id]).get(article_id, [])),
        )

    def fetch_copies(
        self, db: sqlite3.Connection, article_ids: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """The recorded copies of each of these articles (those with none left out), each as
        a Copy's fields, the most similar first."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT article_id, {_COPY_COLUMNS} FROM copies WHERE article_id IN ({marks}) "
            "ORDER BY article_id, similarity DESC, copy_id",
            ids,
        ).fetchall()
        found: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            copy = Copy(
                id=row["copy_id"],
                publication=row["publication"],
                url=row["url"],
                published=row["published"],
                origin=row["origin"],
                similarity=float(row["similarity"]),
            )
            found.setdefault(row["article_id"], []).append(asdict(copy))
        return found

    def chunk_ids_where(self, db: sqlite3.Connection, where: str, params: list[Any]) -> list[int]:
        """Ids of the chunks whose article matches an SQL condition on `a` (articles)."""
        sql = f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}"
        return [int(row[0]) for row in db.execute(sql, params)]

    def texts_containing(
        self, db: sqlite3.Connection, column: str, fragments: Sequence[str]
    ) -> list[tuple[int, str]]:
        """(chunk id, passage text or article title) of the chunks whose `column` ("text"
        or "title"), case folded, holds every one of `fragments`."""
        field = {"text": "c.text", "title": "a.title"}[column]
        where = " AND ".join([f"instr(fold({field}), ?) > 0"] * len(fragments)) or "1"
        sql = f"SELECT c.id, {field} FROM chunks c JOIN articles a ON a.id = c.article_id"
        return [(int(r[0]), str(r[1])) for r in db.execute(f"{sql} WHERE {where}", fragments)]

    def texts_of(
        self, db: sqlite3.Connection, column: str, chunk_ids: Iterable[int]
    ) -> list[tuple[int, str]]:
        """(chunk id, passage text or article title) of these chunks, in id order."""
        field = {"text": "c.text", "title": "a.title"}[column]
        ids = sorted({int(i) for i in chunk_ids})
        found: list[tuple[int, str]] = []
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            rows = db.execute(
                f"SELECT c.id, {field} FROM chunks c JOIN articles a ON a.id = c.article_id "
                f"WHERE c.id IN ({','.join('?' * len(batch))}) ORDER BY c.id",
                batch,
            )
            found.extend((int(r[0]), str(r[1])) for r in rows)
        return found

    def iter_chunks(self, db: sqlite3.Connection, from_id: int = 1) -> Iterator[StoredChunk]:
        """Every chunk from `from_id` on, in id order, with its article."""
        rows = db.execute(f"{_CHUNK_SELECT} WHERE c.id >= ? ORDER BY c.id", (from_id,))
        yield from (_stored_chunk(row) for row in rows)


@dataclass(frozen=True)
class ArticleFilter:
    """Conditions on the article, as the search's filters state them: dates YYYY, YYYY-MM
    or YYYY-MM-DD, inclusive (a prefix admits its last day); publication matched exactly
    (case folded) against the article's and its copies'; author as a case-folded part of
    the byline; language as an ISO 639-1 code (as `languages.language_code` gives it)."""

    published_from: str | None = None
    published_to: str | None = None
    publication: str | None = None
    author: str | None = None
    language: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        """An SQL condition on the articles table `a`, and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.published_from:
            clauses.append("a.published >= ?")
            params.append(self.published_from)
        if self.published_to:
            # "2017-11" must admit "2017-11-30": compare against the prefix's last value.
            clauses.append("a.published <= ?")
            params.append(self.published_to + "\uffff")
        # fold() is Python's casefold, registered on the connection: SQLite's own NOCASE and
        # lower() fold ASCII only ("Ärzte" would not match "ärzte").
        if self.publication:
            # A story kept under one publication is found under each of its copies' too.
            clauses.append(
                "(fold(a.publication) = ? OR a.id IN "
                "(SELECT article_id FROM copies WHERE fold(publication) = ?))"
            )
            params += [fold_case(self.publication)] * 2
        if self.author:
            clauses.append("instr(fold(a.author), ?) > 0")
            params.append(fold_case(self.author))
        if self.language:
            clauses.append("a.language = ?")
            params.append(self.language)
        return " AND ".join(clauses) or "1", params


@dataclass(frozen=True)
class ArticleFacts:
    """What facets and date order read about the article of one chunk."""

    article_id: str
    publication: str | None
    author: str | None
    published: str | None
    language: str | None = None


#: Chunk ids per SQL statement (SQLite's default limit on variables is 32766).
_BATCH = 900
#: SQLite virtual-machine steps between two looks at a scan's time budget: a row of a scan
#: that folds every passage's text takes a handful, so about every hundred rows.
_PROGRESS_STEPS = 1_000


class ServedStore:
    """A published store as a server reads it: one read-only connection shared by every
    request thread under a lock (a lookup takes well under a millisecond), and every query
    the search needs as a method, so no caller writes SQL or holds the connection.

    The connection is opened at once and kept: the open file stays readable even after a
    later build prunes its version's folder, so threads that query late never find it gone.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader = StoreReader(path)
        self._db = self._reader.connect()
        self._lock = threading.Lock()
        self._table_columns: dict[str, frozenset[str]] = {}

    def fetch_chunks(self, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        """Chunks by id, each with its article's metadata and copies."""
        with self._lock:
            return self._reader.fetch_chunks(self._db, chunk_ids)

    def fetch_article(self, article_id: str) -> StoredArticle | None:
        """One article with its clean text and passage offsets; None for an unknown id."""
        with self._lock:
            return self._reader.fetch_article(self._db, article_id)

    def article_keys(self, chunk_ids: Iterable[int]) -> dict[int, int]:
        """The article key (its first chunk id) of each of these chunks."""
        with self._lock:
            return self._reader.article_keys(self._db, chunk_ids)

    def article_chunk_ids(self, chunk_ids: Iterable[int]) -> list[int]:
        """Every chunk id of the articles these chunks belong to."""
        with self._lock:
            return self._reader.article_chunk_ids(self._db, chunk_ids)

    def has_dates(self) -> bool:
        """Whether any article has a publication date."""
        with self._lock:
            return self._reader.has_dates(self._db)

    def copy_owners(self) -> dict[str, str]:
        """Each recorded copy's id and the id of the article it is a copy of."""
        with self._lock:
            return self._reader.copy_owners(self._db)

    def chunk_ids_matching(self, where: ArticleFilter) -> list[int]:
        """Ids of the chunks whose article the filter admits."""
        condition, params = where.sql()
        with self._lock:
            return self._reader.chunk_ids_where(self._db, condition, params)

    def texts_containing(
        self, column: str, fragments: Sequence[str], check: Callable[[], None] | None = None
    ) -> list[tuple[int, str]]:
        """(chunk id, text) of the passages whose text (column "text") or whose article's
        title ("title"), case folded, holds every fragment: the candidates a phrase is then
        checked in (`semsearch.search.constraints`). The scan reads every passage: `check`
        (a search's `Deadline.check`) is called as it goes, and what it raises ends it."""
        with self._lock:
            if check is None:
                return self._reader.texts_containing(self._db, column, list(fragments))
            raised: list[BaseException] = []

            def keep_going() -> int:
                try:
                    check()
                except Exception as exc:  # raised again below, unchanged
                    raised.append(exc)
                    return 1  # SQLite interrupts the statement
                return 0

            self._db.set_progress_handler(keep_going, _PROGRESS_STEPS)
            try:
                return self._reader.texts_containing(self._db, column, list(fragments))
            except sqlite3.OperationalError:
                if raised:
                    raise raised[0] from None
                raise
            finally:
                self._db.set_progress_handler(None, 0)

    def texts_of(self, column: str, chunk_ids: Iterable[int]) -> list[tuple[int, str]]:
        """(chunk id, text) of these passages (column "text") or their articles' titles
        ("title"), in id order: the candidates a word index gives a phrase to check."""
        with self._lock:
            return self._reader.texts_of(self._db, column, chunk_ids)

    def article_facts(self, chunk_ids: Iterable[int]) -> dict[int, ArticleFacts]:
        """The article facts (id, publication, author, date, language) of each chunk id."""
        ids = list(dict.fromkeys(int(cid) for cid in chunk_ids))
        facts: dict[int, ArticleFacts] = {}
        with self._lock:
            for start in range(0, len(ids), _BATCH):
                batch = ids[start : start + _BATCH]
                rows = self._db.execute(
                    "SELECT c.id, a.id, a.publication, a.author, a.published, a.language "
                    "FROM chunks c JOIN articles a ON a.id = c.article_id "
                    f"WHERE c.id IN ({','.join('?' * len(batch))})",
                    batch,
                )
                for cid, article_id, publication, author, published, language in rows:
                    facts[int(cid)] = ArticleFacts(
                        article_id, publication, author, published, language
                    )
        return facts

    def articles_with_passages(self, least: int) -> list[tuple[str, str, str]]:
        """(id, clean text, title) of every article with at least `least` passages, in the
        store's order (build-time tuning draws its probes from them)."""
        with self._lock:
            rows = self._db.execute(
                """SELECT a.id, a.text, a.title FROM articles a
                   WHERE (SELECT count(*) FROM chunks c WHERE c.article_id = a.id) >= ?""",
                (least,),
            ).fetchall()
        return [(str(i), str(text), str(title)) for i, text, title in rows]

    def titles(self) -> list[str]:
        """Every article's title, in the store's order (search suggestions are drawn from
        them, `semsearch.search.suggest`)."""
        with self._lock:
            return [str(t) for (t,) in self._db.execute("SELECT title FROM articles")]

    def passage_spans(self, article_id: str) -> list[tuple[int, int, int]]:
        """(chunk id, start, end) of each passage of one article."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, start, end FROM chunks WHERE article_id = ?",
                (article_id,),
            ).fetchall()
        return [(int(c), int(s), int(e)) for c, s, e in rows]

    def chunk_articles(self) -> dict[int, str]:
        """Every chunk id with its article's id."""
        with self._lock:
            return {
                int(c): str(a) for c, a in self._db.execute("SELECT id, article_id FROM chunks")
            }

    def connect(self) -> sqlite3.Connection:
        """A read-only connection of the caller's own, for studies and tools that read the
        tables themselves (close it when done); the served connection stays this object's."""
        return self._reader.connect()

    def term_ids(self, table: str, words: Sequence[str]) -> dict[str, int | None]:
        """Each word's id in a vocabulary table of the store (`word`, `id`), None for a word
        it lacks: the Milvus backend's published term ids (`semsearch.index.build.publish`)."""
        found = self._vocabulary(table, "id", words)
        return {word: found.get(word) for word in words}

    def term_idfs(self, table: str, words: Sequence[str]) -> dict[str, float] | None:
        """Each word's IDF in a vocabulary table of the store (`word`, `idf`), for the words
        it holds; None when the table has no IDFs (published before they were)."""
        if "idf" not in self._columns(table):
            return None
        return self._vocabulary(table, "idf", words)

    def _vocabulary(self, table: str, column: str, words: Sequence[str]) -> dict[str, Any]:
        """`column` of each word a vocabulary table holds, read in batches."""
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(words), _BATCH):
                batch = list(words[start : start + _BATCH])
                marks = ",".join("?" * len(batch))
                sql = f"SELECT word, {column} FROM {table} WHERE word IN ({marks})"
                found.update(self._db.execute(sql, batch).fetchall())
        return found

    def _columns(self, table: str) -> frozenset[str]:
        """The columns of one of the store's tables, read once (a served store's schema
        does not change)."""
        with self._lock:
            columns = self._table_columns.get(table)
            if columns is None:
                rows = self._db.execute(f"PRAGMA table_info({table})")
                columns = self._table_columns[table] = frozenset(row[1] for row in rows)
        return columns

    def iter_chunks(self, from_id: int = 1) -> Iterator[StoredChunk]:
        """Every chunk from `from_id` on, in id order (build-time tools; not under the lock:
        use it from one thread)."""
        db = self._reader.connect()
        try:
            yield from self._reader.iter_chunks(db, from_id)
        finally:
            db.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    """True when the store's main schema has this table."""
    sql = "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?"
    return db.execute(sql, (name,)).fetchone() is not None


def _fold(value: Any) -> Any:
    """Unicode case folding for SQL (SQLite's lower() and NOCASE fold ASCII only)."""
    return fold_case(value) if isinstance(value, str) else value


def _json(text: str) -> Any:
    """A JSON column's value; an empty object or list without the parser."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


def _stored_chunk(row: sqlite3.Row) -> StoredChunk:
    # A page of hits reads a dozen rows: the JSON columns are parsed only where they hold
    # something (no tags, no site_url: most articles), a fifth of this function's time.
    extra = row["extra"]
    return StoredChunk(
        chunk_id=row["id"],
        ordinal=row["ordinal"],
        start=row["start"],
        end=row["end"],
        text=row["chunk_text"],
        sentences=tuple(map(tuple, json.loads(row["sentences"]))),
        article=_article_fields(
            row, _json(extra) if "site_url" in extra else {}, id_column="article_id"
        ),
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
        "tags": _json(row["tags"]),
        "language": row["language"],
    }
