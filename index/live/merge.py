"""Background merges of a live index's segments: tiered, bounded in memory, never blocking
searches (docs/live-index.md, "Merges").

The policy (`plan_merge`) is Lucene's tiered one, simplified: segments are put in tiers by
size (`live_merge_factor` between tiers, everything under 1,000 passages in the first);
a tier holding `live_merge_factor` segments has its oldest merged into one, never past
`live_max_segment` passages; a segment with more than a third of its rows tombstoned is
rewritten alone. A merge reads its inputs at one generation, writes the merged segment to
`segments/<id>.partial/`, fsyncs and renames it, and only then takes the writer lock for one
transaction that swaps it in (inputs out, merged in, the tombstones of the rows it left out
forgotten, generation + 1). A SIGKILL before that transaction leaves the inputs served and a
folder the next merge deletes; after it, the inputs' folders are deleted once no reader can
still be loading them (`RETIRE_SECONDS`).

One merge at a time per index: `merge_lock` is a second `flock`, taken without waiting; a
process that cannot take it leaves the merging to the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.index.live import catalog
from semsearch.index.live.segments import (
    Mask,
    Segment,
    article_alive,
    forget_pages,
    fsync_dir,
    read_folder,
    write_folder,
)
from semsearch.index.live.suggestions import merged_suggestions, stored_suggestions
from semsearch.index.storage.directory import crash_point, resolve_index_dir, writer_lock
from semsearch.index.storage.manifest import STORE_NAME
from semsearch.index.storage.store import StoreReader, StoreWriter
from semsearch.settings import get_setting

log = logging.getLogger(__name__)

SEGMENTS_DIR = "segments"
PARTIAL_SUFFIX = ".partial"
#: Segments under this many passages count as this many for their tier (Lucene's floor).
FLOOR = 1_000
#: A segment with more than this share of its rows tombstoned is rewritten alone.
RECLAIM_SHARE = 1 / 3
#: How long a merged-away folder is kept for readers that listed it just before the swap.
RETIRE_SECONDS = 60.0


def is_flat(row: catalog.SegmentRow, hnsw_from: int) -> bool:
    """Whether a segment is searched exactly (no HNSW graph): written inline by a write, or
    merged below `hnsw_from` passages."""
    return row.kind == "inline" or row.passages < hnsw_from


def plan_merge(
    segments: list[catalog.SegmentRow],
    dead: Mapping[int, int],
    factor: int,
    max_segment: int,
    hnsw_from: int,
) -> list[int]:
    """The ids of the segments to merge next (empty: none). `dead` counts each segment's
    tombstoned rows.

    In this order: a segment with over a third of its rows dead is rewritten alone; the
    flat segments (searched exactly, `is_flat`) are merged into one with a graph as soon as
    their alive rows reach `hnsw_from` (Qdrant's indexing threshold), so a search compares
    fewer than `hnsw_from` rows plus one write's exactly however the index grows; then a
    size tier holding `factor` segments has its oldest merged (Lucene's tiers), never past
    `max_segment` passages."""

    def alive(row: catalog.SegmentRow) -> int:
        return row.passages - dead.get(row.id, 0)

    for row in segments:
        if row.passages and dead.get(row.id, 0) > RECLAIM_SHARE * row.passages:
            return [row.id]
    flat = sorted((r for r in segments if is_flat(r, hnsw_from)), key=lambda r: r.id)
    if flat and sum(alive(r) for r in flat) >= hnsw_from:
        picked: list[int] = []
        total = 0
        for row in flat:  # oldest first, as many as one segment may hold
            if picked and total + alive(row) > max_segment:
                break
            picked.append(row.id)
            total += alive(row)
        if total >= hnsw_from:
            return picked
    tiers: dict[int, list[catalog.SegmentRow]] = {}
    for row in segments:
        tier = int(math.log(max(alive(row), FLOOR) / FLOOR, factor) + 1e-9)
        tiers.setdefault(tier, []).append(row)
    for tier in sorted(tiers):
        rows = sorted(tiers[tier], key=lambda r: r.id)  # oldest first
        if len(rows) < factor:
            continue
        picked = []
        total = 0
        for row in rows[:factor]:
            size = alive(row)
            if total + size > max_segment and len(picked) >= 2:
                break
            picked.append(row.id)
            total += size
        if len(picked) >= 2 and total <= max_segment:
            return picked
    return []


def merge_segments(
    segment_id: int, inputs: list[Segment], alive: list[Mask | None], folder: Path | None = None
) -> Segment:
    """One segment of the alive rows of `inputs`, in chunk-id order, with one vocabulary.

    Memory (docs/live-index.md, "Memory of a merge and of a reader"): with `folder` (the
    merge's partial folder, made here) the merged vectors are written straight into its
    memory-mapped `vectors.npy`, one input's rows at a time, so they are file pages the
    kernel can write out and drop, never anonymous memory; the word counts are laid out in
    two passes (each word's count over the inputs, then every input's entries copied into
    place, a block of words at a time) into their final int32/float32 arrays, with no COO
    copy of the whole. A word's rows are in input order within its column: BM25 adds per
    row and does not need them sorted."""
    keeps = [
        np.arange(len(segment)) if mask is None else np.flatnonzero(mask)
        for segment, mask in zip(inputs, alive, strict=True)
    ]
    all_ids = np.concatenate(
        [np.asarray(s.ids)[k] for s, k in zip(inputs, keeps, strict=True)]
        or [np.zeros(0, dtype=np.int64)]
    ).astype(np.int64)
    order = np.argsort(all_ids, kind="stable")
    new_row = np.empty(len(order), dtype=np.int64)
    new_row[order] = np.arange(len(order))
    del order
    dimension = inputs[0].vectors.shape[1]
    shape = (len(all_ids), dimension)
    vectors: np.ndarray
    if folder is not None and len(all_ids):
        folder.mkdir(parents=True)
        path = folder / "vectors.npy"
        vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    else:
        vectors = np.empty(shape, dtype=np.float32)
    lengths = np.empty(len(all_ids), dtype=np.float32)
    vocabulary: dict[str, int] = {}
    # Pass 1: each input's columns in the merged vocabulary, and its alive entries a column.
    plans = []
    for segment, keep in zip(inputs, keeps, strict=True):
        words = sorted(segment.vocabulary, key=segment.vocabulary.__getitem__)
        column_of = np.asarray(
            [vocabulary.setdefault(w, len(vocabulary)) for w in words], dtype=np.int64
        )
        indptr = np.asarray(segment.indptr, dtype=np.int64)
        if len(keep) == len(segment):
            kept = np.diff(indptr)
        else:
            flag = np.zeros(len(segment), dtype=bool)
            flag[keep] = True
            running = np.zeros(len(segment.rows) + 1, dtype=np.int64)
            np.cumsum(flag[np.asarray(segment.rows)], out=running[1:])
            kept = running[indptr[1:]] - running[indptr[:-1]]
        plans.append((column_of, kept))
    sizes = np.zeros(len(vocabulary), dtype=np.int64)
    for column_of, kept in plans:
        sizes[column_of] += kept  # an input's columns are distinct words
    merged_indptr = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    np.cumsum(sizes, out=merged_indptr[1:])
    del sizes
    rows = np.empty(int(merged_indptr[-1]), dtype=np.int32)
    counts = np.empty(int(merged_indptr[-1]), dtype=np.float32)
    filled = merged_indptr[:-1].copy()  # where each merged column's next entry goes
    offset = 0
    for segment, keep, (column_of, kept) in zip(inputs, keeps, plans, strict=True):
        target = new_row[offset : offset + len(keep)]
        vectors[target] = segment.vectors[keep]
        lengths[target] = np.asarray(segment.lengths)[keep]
        row_map = np.full(len(segment), -1, dtype=np.int64)
        row_map[keep] = target
        _place_entries(segment, row_map, column_of, kept, filled, rows, counts)
        offset += len(keep)
        for name in ("vectors", "rows", "counts", "indptr", "lengths", "ids"):
            forget_pages(getattr(segment, name))
        if isinstance(vectors, np.memmap):  # written pages out and unmapped, an input at a time
            vectors.flush()
            forget_pages(vectors)
    articles = None
    if inputs and all(s.articles is not None for s in inputs):  # format 2: articles' rows too
        parts = [s.articles for s in inputs if s.articles is not None]
        masks = [article_alive(s, m) for s, m in zip(inputs, alive, strict=True)]
        articles = merge_segments(segment_id, parts, masks)
    suggestions = None
    if articles is not None:  # the titles of the alive article rows, from the inputs' tables
        tables = [
            (s.suggestions, s.articles.ids, m)
            for s, m in zip(inputs, masks, strict=True)
            if s.suggestions is not None and s.articles is not None
        ]
        if len(tables) == len(inputs):
            suggestions = merged_suggestions(tables)
    return Segment(
        articles=articles,
        suggestions=suggestions,
        id=segment_id,
        ids=np.sort(all_ids),
        vectors=vectors,
        indptr=merged_indptr,
        rows=rows,
        counts=counts,
        lengths=lengths,
        vocabulary=vocabulary,
    )


#: Word-count entries an input copies at a time in a merge (its temporaries' bound).
_BLOCK_ENTRIES = 1_000_000


def _place_entries(
    segment: Segment,
    row_map: np.ndarray,
    column_of: np.ndarray,
    kept: np.ndarray,
    filled: np.ndarray,
    rows: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Copy one input's alive (row, count) entries into the merged columns, a block of its
    columns at a time; `filled` advances past what was placed."""
    indptr = np.asarray(segment.indptr, dtype=np.int64)
    columns = len(column_of)
    start = 0
    while start < columns:
        limit = int(indptr[start]) + _BLOCK_ENTRIES
        end = max(start + 1, int(np.searchsorted(indptr, limit, side="right")) - 1)
        end = min(end, columns)
        low, high = int(indptr[start]), int(indptr[end])
        mapped = row_map[np.asarray(segment.rows[low:high])]
        take = mapped >= 0
        source_column = np.repeat(np.arange(start, end), np.diff(indptr[start : end + 1]))[take]
        first = np.zeros(end - start + 1, dtype=np.int64)  # alive entries before each column
        np.cumsum(kept[start:end], out=first[1:])
        rank = np.arange(int(first[-1])) - first[source_column - start]
        destination = filled[column_of[source_column]] + rank
        rows[destination] = mapped[take]
        counts[destination] = np.asarray(segment.counts[low:high])[take]
        filled[column_of[start:end]] += kept[start:end]
        start = end


@contextlib.contextmanager
def merge_lock(out: Path) -> Iterator[bool]:
    """The index's merge lock, without waiting: yields whether it is held."""
    path = out.parent / f".{out.name}.merge.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_segment(db: Any, version: Path, row: catalog.SegmentRow, graph: bool = False) -> Segment:
    """A listed segment, from the store (inline) or its folder (its graph with `graph`)."""
    from semsearch.index.live.segments import from_blob

    if row.kind == "inline":
        data = catalog.read_segment_data(db, row.id)
        if data is None:
            raise FileNotFoundError(f"segment {row.id} is no longer in the store")
        return from_blob(row.id, data)
    return read_folder(row.id, version / SEGMENTS_DIR / str(row.id), graph=graph)


def dead_rows(segment: Segment, tombstones: np.ndarray) -> Mask | None:
    """A segment's alive flags under these (sorted) tombstones; None when all are alive."""
    dead = segment.rows_of(tombstones)
    if len(dead) == 0:
        return None
    alive = np.ones(len(segment), dtype=bool)
    alive[dead] = False
    return alive


def run_merge(index: str | Path, settings: Mapping[str, Any] | None = None) -> bool:
    """Run the one merge the policy asks for now, if any and if no other process merges
    this index; returns whether a merge was swapped in."""
    out = Path(os.path.abspath(index))
    with merge_lock(out) as held:
        if not held:
            return False
        version = resolve_index_dir(out)
        store = StoreWriter(version / STORE_NAME, create=False, durable=True)
        try:
            merged = _merge_once(out, version, store, dict(settings or {}))
            _collect_garbage(version, store)
            return merged
        finally:
            store.db.close()


def _merge_once(out: Path, version: Path, store: StoreWriter, settings: dict[str, Any]) -> bool:
    db = store.db
    db.execute("BEGIN")  # one read snapshot: segments and tombstones of one generation
    try:
        listed = catalog.read_segments(db)
        tombstones = np.asarray(catalog.read_tombstones(db), dtype=np.int64)
        loaded = {row.id: load_segment(db, version, row) for row in listed}
    finally:
        db.execute("COMMIT")
    alive = {i: dead_rows(s, tombstones) for i, s in loaded.items()}
    dead = {i: 0 if a is None else int((~a).sum()) for i, a in alive.items()}
    hnsw_from = int(get_setting("live_hnsw_from", settings))
    plan = plan_merge(
        listed,
        dead,
        int(get_setting("live_merge_factor", settings)),
        int(get_setting("live_max_segment", settings)),
        hnsw_from,
    )
    if not plan:
        return False
    timeout = float(get_setting("live_lock_timeout", settings))
    with writer_lock(out, timeout=timeout):
        db.execute("BEGIN IMMEDIATE")
        state = catalog.read_state(db)
        new_id = state.next_segment_id
        catalog.set_state(db, _with(state, next_segment_id=new_id + 1))
        db.execute("COMMIT")
    # A segment written before suggestion tables gets its table from the store's titles.
    reader = StoreReader(version / STORE_NAME)
    inputs = [stored_suggestions(loaded[i], lambda keys: reader.titles_of(db, keys)) for i in plan]
    masks = [alive[i] for i in plan]
    folder = version / SEGMENTS_DIR / str(new_id)
    partial = folder.with_name(folder.name + PARTIAL_SUFFIX)
    merged = merge_segments(new_id, inputs, masks, partial)
    dropped = np.concatenate(
        [s.ids[~m] for s, m in zip(inputs, masks, strict=True) if m is not None]
        or [np.zeros(0, dtype=np.int64)]
    )
    write_folder(merged, partial, graph=len(merged) >= hnsw_from)
    crash_point("merge-written")
    os.rename(partial, folder)
    fsync_dir(folder.parent)
    with writer_lock(out, timeout=timeout):
        if resolve_index_dir(out) != version:  # a build or restore replaced the index
            shutil.rmtree(folder, ignore_errors=True)
            return False
        db.execute("BEGIN IMMEDIATE")
        try:
            now_listed = {row.id for row in catalog.read_segments(db)}
            if not set(plan) <= now_listed:
                db.execute("ROLLBACK")
                shutil.rmtree(folder, ignore_errors=True)
                return False
            state = catalog.read_state(db)
            catalog.remove_segments(db, plan, time.time())
            if len(merged):
                catalog.add_segment(db, new_id, len(merged), state.generation + 1, None)
            catalog.drop_tombstones(db, dropped.tolist())
            catalog.set_state(db, _with(state, generation=state.generation + 1))
            crash_point("merge-before-swap")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    if not len(merged):
        shutil.rmtree(folder, ignore_errors=True)
    log.info(
        "merged segments %s into %d (%d passages, %d tombstones dropped)",
        plan,
        new_id,
        len(merged),
        len(dropped),
    )
    return True


def _collect_garbage(version: Path, store: StoreWriter) -> None:
    """Delete what no reader can need (called under the merge lock): unfinished merges'
    folders, folders merged away more than RETIRE_SECONDS ago, and finished folders that
    no segment lists and that were never swapped in (a merge killed before its swap)."""
    folder = version / SEGMENTS_DIR
    if not folder.is_dir():
        return
    db = store.db
    listed = {row.id for row in catalog.read_segments(db)}
    retired_all = {int(r[0]) for r in db.execute("SELECT segment_id FROM live_retired").fetchall()}
    expired = catalog.retired_segments(db, time.time() - RETIRE_SECONDS)
    for path in folder.iterdir():
        name = path.name
        if name.endswith(PARTIAL_SUFFIX):
            shutil.rmtree(path, ignore_errors=True)
        elif name.isdigit():
            number = int(name)
            if number in listed:
                continue
            if number not in retired_all or number in expired:
                shutil.rmtree(path, ignore_errors=True)
    if expired:
        db.execute("BEGIN IMMEDIATE")
        catalog.forget_retired(db, expired)
        db.execute("COMMIT")


def _with(state: catalog.LiveState, **changes: int) -> catalog.LiveState:
    from dataclasses import replace

    return replace(state, **changes)


def compact(index: str | Path, settings: Mapping[str, Any] | None = None) -> int:
    """Run merges until the policy asks for none; returns how many ran."""
    count = 0
    while run_merge(index, settings):
        count += 1
    return count


def merge_in_background(
    index: str | Path, settings: Mapping[str, Any] | None = None
) -> threading.Thread:
    """Merges on a daemon thread until the policy asks for none (a process that exits
    mid-merge leaves a folder the next merge deletes)."""

    def merge() -> None:
        try:
            compact(index, settings)
        except Exception:
            log.exception("a background merge of %s failed; the index serves as before", index)

    thread = threading.Thread(target=merge, name="live-merge", daemon=True)
    thread.start()
    return thread
