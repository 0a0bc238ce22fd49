"""The live index's own tables in the store: its segments, tombstones, the collection's
document frequencies and its state (generation, counts, next chunk id).

They sit in `store.sqlite` beside the articles and chunks, so that one transaction commits
a whole write: its rows, its segment, the words' statistics and the generation readers poll
(docs/live-index.md). Every function here runs inside the caller's transaction, on the
writer's connection, except the `read_` ones, which any read-only connection may call.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS live_segments (
    id INTEGER PRIMARY KEY,
    passages INTEGER NOT NULL,
    kind TEXT NOT NULL,          -- 'inline' (data below) or 'folder' (segments/<id>/)
    data BLOB,
    generation INTEGER NOT NULL  -- when it was made
);
CREATE TABLE IF NOT EXISTS live_tombstones (
    chunk_id INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS live_terms (
    word TEXT PRIMARY KEY,
    df INTEGER NOT NULL          -- live passages holding the word
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS live_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS live_retired (
    segment_id INTEGER PRIMARY KEY,  -- a merged-away folder, deleted once no reader needs it
    retired_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS live_languages (
    language TEXT PRIMARY KEY,   -- the analysis language ('' unknown)
    passages INTEGER NOT NULL    -- live passages analysed in it
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS live_article_terms (
    word TEXT PRIMARY KEY,
    df INTEGER NOT NULL          -- live articles (title + whole text) holding the word
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS live_copy_bands (
    band INTEGER NOT NULL,       -- one LSH band of an article's MinHash signature, hashed
    article_id TEXT NOT NULL,
    PRIMARY KEY (band, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS live_copy_bands_by_article ON live_copy_bands(article_id);
CREATE TABLE IF NOT EXISTS live_sources (
    source TEXT PRIMARY KEY,     -- boilerplate.source_of
    articles INTEGER NOT NULL,   -- stored articles of the source
    learned_at INTEGER NOT NULL  -- how many it had when its boilerplate was last learned
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS live_source_articles (
    source TEXT NOT NULL,
    article_id TEXT NOT NULL,
    seq INTEGER NOT NULL,        -- write order, for the newest articles of a source
    PRIMARY KEY (source, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS live_source_articles_by_id ON live_source_articles(article_id);
"""
STATE_KEYS = ("generation", "passages", "words", "next_chunk_id", "next_segment_id")
#: Kept from format 2 on (a live index made before has none of them: see `LiveState.format`).
EXTRA_KEYS = ("format", "articles", "article_words")
#: The live index's format: 2 analyses each passage in its article's language and keeps
#: whole-article rows, copy bands and source counts (docs/live-index.md); 1 (made before
#: 2026-12-07) analysed every passage as English and kept none of them.
FORMAT = 2


@dataclass(frozen=True)
class LiveState:
    """The index at one generation: live passages, their index words in all, the next ids."""

    generation: int
    passages: int
    words: int
    next_chunk_id: int
    next_segment_id: int
    format: int = 1
    articles: int = 0  # live articles with article rows (format 2)
    article_words: int = 0  # their index words in all

    @property
    def mean_words(self) -> float:
        return self.words / self.passages if self.passages else 0.0

    @property
    def mean_article_words(self) -> float:
        return self.article_words / self.articles if self.articles else 0.0

    @property
    def per_language(self) -> bool:
        """Whether passages are analysed in their article's language (else all as English)."""
        return self.format >= 2


@dataclass(frozen=True)
class SegmentRow:
    """A segment as the store lists it."""

    id: int
    passages: int
    kind: str


def create_tables(db: sqlite3.Connection, next_chunk_id: int = 1) -> None:
    """Add the live tables to a store (in the caller's transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.executemany(
        "INSERT OR IGNORE INTO live_state VALUES (?, ?)",
        [
            ("generation", 0),
            ("passages", 0),
            ("words", 0),
            ("next_chunk_id", next_chunk_id),
            ("next_segment_id", 1),
            ("format", FORMAT),
            ("articles", 0),
            ("article_words", 0),
        ],
    )


def read_state(db: sqlite3.Connection) -> LiveState:
    """The state as committed (or as this transaction sees it)."""
    values = dict(db.execute("SELECT key, value FROM live_state").fetchall())
    extra = {key: int(values[key]) for key in EXTRA_KEYS if key in values}
    return LiveState(**{key: int(values[key]) for key in STATE_KEYS}, **extra)


def read_generation(db: sqlite3.Connection) -> int:
    """Only the generation: what readers poll."""
    row = db.execute("SELECT value FROM live_state WHERE key = 'generation'").fetchone()
    return int(row[0])


def read_segments(db: sqlite3.Connection) -> list[SegmentRow]:
    """The segments served now, oldest first."""
    rows = db.execute("SELECT id, passages, kind FROM live_segments ORDER BY id").fetchall()
    return [SegmentRow(int(i), int(n), str(k)) for i, n, k in rows]


def read_segment_data(db: sqlite3.Connection, segment_id: int) -> bytes | None:
    """An inline segment's data (None: no such inline segment now)."""
    row = db.execute(
        "SELECT data FROM live_segments WHERE id = ? AND kind = 'inline'", (segment_id,)
    ).fetchone()
    return None if row is None else bytes(row[0])


def read_tombstones(db: sqlite3.Connection) -> list[int]:
    """Every tombstoned chunk id, ascending."""
    return [int(r[0]) for r in db.execute("SELECT chunk_id FROM live_tombstones ORDER BY 1")]


def read_document_frequencies(
    db: sqlite3.Connection, words: Iterable[str], table: str = "live_terms"
) -> dict[str, int]:
    """The collection's document frequency of each of these index words (absent: none), over
    passages (`live_terms`) or whole articles (`live_article_terms`)."""
    unique = list(dict.fromkeys(words))
    if not unique:
        return {}
    marks = ",".join("?" * len(unique))
    rows = db.execute(f"SELECT word, df FROM {table} WHERE word IN ({marks})", unique)
    return {str(w): int(df) for w, df in rows}


def read_frequent_words(db: sqlite3.Connection, min_df: int) -> dict[str, int]:
    """Each index word at least `min_df` live passages hold, with how many."""
    rows = db.execute("SELECT word, df FROM live_terms WHERE df >= ?", (max(1, min_df),))
    return {str(w): int(df) for w, df in rows}


def set_state(db: sqlite3.Connection, state: LiveState) -> None:
    """Record the state (in the caller's transaction)."""
    db.executemany(
        "UPDATE live_state SET value = ? WHERE key = ?",
        [(getattr(state, key), key) for key in STATE_KEYS + EXTRA_KEYS],
    )


def add_segment(
    db: sqlite3.Connection, segment_id: int, passages: int, generation: int, data: bytes | None
) -> None:
    """List a new segment: inline with its data, or a folder when `data` is None."""
    db.execute(
        "INSERT INTO live_segments VALUES (?, ?, ?, ?, ?)",
        (segment_id, passages, "folder" if data is None else "inline", data, generation),
    )


def remove_segments(db: sqlite3.Connection, segment_ids: Iterable[int], now: float) -> None:
    """Unlist merged-away segments; their folders are retired, deleted later."""
    ids = list(segment_ids)
    rows = db.execute(
        f"SELECT id, kind FROM live_segments WHERE id IN ({','.join('?' * len(ids))})", ids
    ).fetchall()
    db.executemany(
        "INSERT OR REPLACE INTO live_retired VALUES (?, ?)",
        [(int(i), now) for i, kind in rows if kind == "folder"],
    )
    db.executemany("DELETE FROM live_segments WHERE id = ?", [(i,) for i in ids])


def add_tombstones(db: sqlite3.Connection, chunk_ids: Iterable[int], generation: int) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO live_tombstones VALUES (?, ?)",
        [(int(c), generation) for c in chunk_ids],
    )


def drop_tombstones(db: sqlite3.Connection, chunk_ids: Iterable[int]) -> None:
    """Forget tombstones whose rows a merge left out (nothing holds them any more)."""
    db.executemany("DELETE FROM live_tombstones WHERE chunk_id = ?", [(int(c),) for c in chunk_ids])


def count_words(
    db: sqlite3.Connection, passages: Iterable[list[str]], sign: int, table: str = "live_terms"
) -> int:
    """Add (sign 1) or take off (sign -1) these passages' words from the document
    frequencies (`live_article_terms`: articles' words); returns how many index words they
    hold in all."""
    frequencies: Counter[str] = Counter()
    total = 0
    for words in passages:
        frequencies.update(set(words))
        total += len(words)
    db.executemany(
        f"INSERT INTO {table} VALUES (?, ?) ON CONFLICT(word) DO UPDATE SET df = df + excluded.df",
        [(word, sign * n) for word, n in frequencies.items()],
    )
    if sign < 0:
        # Words no live passage holds any more: the table stays the size of the vocabulary.
        db.executemany(
            f"DELETE FROM {table} WHERE word = ? AND df <= 0", [(w,) for w in frequencies]
        )
    return total


def retired_segments(db: sqlite3.Connection, before: float) -> list[int]:
    """Folders of segments merged away before `before` (seconds since the epoch)."""
    rows = db.execute("SELECT segment_id FROM live_retired WHERE retired_at < ?", (before,))
    return [int(r[0]) for r in rows]


def forget_retired(db: sqlite3.Connection, segment_ids: Iterable[int]) -> None:
    db.executemany("DELETE FROM live_retired WHERE segment_id = ?", [(i,) for i in segment_ids])


def read_languages(db: sqlite3.Connection) -> dict[str, int]:
    """Live passages per analysis language, most first (empty in a format-1 index)."""
    if not _has_table(db, "live_languages"):
        return {}
    rows = db.execute(
        "SELECT language, passages FROM live_languages WHERE passages > 0 "
        "ORDER BY passages DESC, language"
    )
    return {str(lang): int(n) for lang, n in rows}


def count_languages(db: sqlite3.Connection, passages: Iterable[tuple[str, int]], sign: int) -> None:
    """Add (sign 1) or take off (sign -1) passages per analysis language."""
    totals: Counter[str] = Counter()
    for language, count in passages:
        totals[language] += count
    db.executemany(
        "INSERT INTO live_languages VALUES (?, ?) "
        "ON CONFLICT(language) DO UPDATE SET passages = passages + excluded.passages",
        [(language, sign * n) for language, n in totals.items() if n],
    )


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None
