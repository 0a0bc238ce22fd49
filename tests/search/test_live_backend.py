"""SearchService over a live index: a write is found by the next search, a deleted or
replaced article's passages never come back, filters apply to written articles."""

from __future__ import annotations

from pathlib import Path

from semsearch.index.ingest.articles import Article
from semsearch.index.live import open_writer
from semsearch.search.query import Query
from semsearch.search.service import SearchService
from tests.conftest import FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder


def test_writes_are_found_and_deletes_are_gone(tmp_path: Path) -> None:
    embedder = HashingEmbedder(dimension=64)
    index = tmp_path / "live"
    settings = {"live_refresh_seconds": 0}
    writer = open_writer(index, embedder, settings)
    writer.upsert(
        [
            Article(
                id="ferry",
                title="Ferry",
                text="The harbour ferry sails at dawn.",
                publication="Harbour News",
                published="2026-01-02",
            ),
            Article(
                id="bridge",
                title="Bridge",
                text="The swing bridge reopens on Monday.",
                publication="City Desk",
                published="2026-02-03",
            ),
        ]
    )
    service = SearchService(index, embedder, {"min_score": FAKE_MIN_SCORE, **settings})
    assert service.backend.kind == "live"
    found = service.search(Query(q="harbour ferry", mode="hybrid"))
    assert [h.article.id for h in found.hits][:1] == ["ferry"]
    only_city = service.search(Query(q="harbour ferry bridge", publication="City Desk"))
    assert {h.article.id for h in only_city.hits} == {"bridge"}
    writer.upsert([Article(id="ferry", title="Ferry", text="Timetable changes for winter.")])
    writer.delete(["bridge"])
    service.backend.reader.refresh()
    after = service.search(Query(q="harbour bridge swing dawn", mode="keyword"))
    assert [h.article.id for h in after.hits] == []
    winter = service.search(Query(q="winter timetable", mode="keyword"))
    assert [h.article.id for h in winter.hits] == ["ferry"]
    service.close()
    writer.close()


def test_the_services_refresh_interval_is_the_one_its_reader_follows(
    tmp_path: Path, monkeypatch
) -> None:
    """`live_refresh_seconds` given to the service (the Python API's and the app's
    settings), not only through the environment, sets how soon a write is seen."""
    monkeypatch.delenv("SEMSEARCH_LIVE_REFRESH_SECONDS", raising=False)
    embedder = HashingEmbedder(dimension=64)
    index = tmp_path / "live"
    writer = open_writer(index, embedder, {"live_refresh_seconds": 0})
    writer.upsert([Article(id="ferry", title="Ferry", text="The harbour ferry sails at dawn.")])

    def found(service: SearchService) -> list[str]:
        hits = service.search(Query(q="swing bridge reopens", mode="keyword")).hits
        return [h.article.id for h in hits]

    every_time = SearchService(index, embedder, {"live_refresh_seconds": 0})
    hourly = SearchService(index, embedder, {"live_refresh_seconds": 3600})
    assert found(every_time) == found(hourly) == []
    writer.upsert([Article(id="bridge", title="Bridge", text="The swing bridge reopens.")])
    assert found(every_time) == ["bridge"]
    assert found(hourly) == []  # its view is the one loaded at open, for an hour
    for service in (every_time, hourly):
        service.close()
    writer.close()
