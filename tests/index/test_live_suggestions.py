"""A live index's search suggestions kept current by its writes
(semsearch.index.live.suggestions): a written title is offered, a deleted or replaced one no
longer, before and after merges; a segment made before the tables is served from the
store's titles and given a table by its merge. Expectations are hand-counted."""

from __future__ import annotations

from semsearch.index.ingest.articles import Article
from semsearch.index.live import merge, open_writer
from semsearch.index.live import writer as live_writer
from semsearch.index.live.merge import compact
from semsearch.index.storage.manifest import SUGGEST_DIR
from semsearch.search.service import SearchService
from tests.conftest import FAKE_MIN_SCORE

SETTINGS = {"live_refresh_seconds": 0, "live_merge_factor": 3}


def story(key: str, title: str) -> Article:
    return Article(id=key, title=title, text=f"The {key} story, told for the {title} page.")


def offered(service: SearchService, prefix: str) -> list[tuple[str, str, int]]:
    """(text, kind, weight) of what the service suggests for `prefix` now."""
    service.backend.reader.refresh()  # the next search's refresh, without waiting for it
    return [(s.text, s.kind, s.weight) for s in service.suggest(prefix, 10)]


def test_a_written_title_is_offered_and_a_deleted_or_replaced_one_no_longer(index, embedder):
    writer = open_writer(index, embedder, SETTINGS)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # no merges here
    writer.upsert([story("a", "Harbour ferry timetable"), story("b", "Harbour lights")])
    service = SearchService(index, embedder, {"min_score": FAKE_MIN_SCORE, **SETTINGS})
    assert offered(service, "harb") == [
        ("Harbour lights", "title", 1),  # equal weights: the shorter first
        ("Harbour ferry timetable", "title", 1),
    ]
    writer.upsert([story("c", "Harbour lights")])  # the same title in another segment
    assert offered(service, "harbour l") == [("Harbour lights", "title", 2)]
    writer.delete(["b"])
    assert offered(service, "harbour l") == [("Harbour lights", "title", 1)]
    writer.upsert([story("a", "Harbour ferry strike")])  # replaced: the old title goes
    assert offered(service, "harbour f") == [("Harbour ferry strike", "title", 1)]
    writer.delete(["c"])
    assert offered(service, "harbour l") == []
    service.close()
    writer.close()


def test_merges_keep_the_suggestions_and_drop_the_deleted(index, embedder):
    writer = open_writer(index, embedder, SETTINGS)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged by hand below
    writer.upsert([story("a", "Tidal power in Wales"), story("b", "Tidal power plans")])
    writer.upsert([story("c", "Tidal power costs")])
    writer.upsert([story("d", "Tidal power for towns")])  # three segments: a full tier
    writer.delete(["b"])
    service = SearchService(index, embedder, {"min_score": FAKE_MIN_SCORE, **SETTINGS})
    titles = [
        ("Tidal power costs", "title", 1),
        ("Tidal power in Wales", "title", 1),
        ("Tidal power for towns", "title", 1),
    ]
    # Before the merge no segment holds three of the titles: no phrase yet.
    assert offered(service, "tidal") == titles
    # b's segment is rewritten alone (half its rows deleted), then the tier is merged.
    assert compact(index, SETTINGS) == 2
    service.backend.reader.refresh()  # the backend's reader keeps the default interval
    (merged,) = service.backend.reader.view().segments
    assert (writer.version_dir / "segments" / str(merged.id) / SUGGEST_DIR).is_dir()
    # One segment of a, c and d (b's row dropped): "Tidal power" is in three titles.
    assert offered(service, "tidal") == [("Tidal power", "phrase", 3), *titles]
    writer.delete(["c"])
    # A deleted title goes at once; its phrases keep its count until its segment is merged.
    assert offered(service, "tidal power c") == []
    assert offered(service, "tidal") == [("Tidal power", "phrase", 3), *titles[1:]]
    service.close()
    writer.close()


def test_segments_made_before_the_tables_are_served_and_merged(index, embedder, monkeypatch):
    # Segments as this index made them before suggestion tables: inline and merged.
    monkeypatch.setattr(live_writer, "with_suggestions", lambda segment, titles: segment)
    monkeypatch.setattr(merge, "stored_suggestions", lambda segment, titles_of: segment)
    writer = open_writer(index, embedder, SETTINGS)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged by hand below
    for key, title in (("a", "Lighthouse keepers"), ("b", "Lighthouse repairs"), ("c", "Pier")):
        writer.upsert([story(key, title)])
    assert compact(index, SETTINGS) == 1  # a merged folder without a table
    writer.upsert([story("d", "Lighthouse tours")])  # an inline segment without one
    writer.delete(["b"])
    folder = writer.version_dir / "segments"
    assert [(p / SUGGEST_DIR).exists() for p in sorted(folder.iterdir())] == [False]
    service = SearchService(index, embedder, {"min_score": FAKE_MIN_SCORE, **SETTINGS})
    assert offered(service, "light") == [
        ("Lighthouse tours", "title", 1),
        ("Lighthouse keepers", "title", 1),
    ]
    monkeypatch.undo()  # this code again: the next merge gives the segments a table
    writer.upsert([story("e", "Lighthouse museum")])
    writer.upsert([story("f", "Piers and jetties")])
    assert compact(index, {**SETTINGS, "live_merge_factor": 2}) >= 1
    reader = service.backend.reader
    reader.refresh()
    assert all(s.suggestions is not None for s in reader.view().segments)
    assert offered(service, "light") == [
        ("Lighthouse tours", "title", 1),
        ("Lighthouse museum", "title", 1),
        ("Lighthouse keepers", "title", 1),
    ]
    assert offered(service, "pier") == [("Pier", "title", 1), ("Piers and jetties", "title", 1)]
    service.close()
    writer.close()
