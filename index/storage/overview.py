"""What a built index holds, for `semsearch info`: the manifest's facts, and its articles
counted by publication and by year with their date range. Reads only: no model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.manifest import STORE_NAME, read_manifest
from semsearch.index.storage.store import StoreReader


@dataclass(frozen=True)
class IndexOverview:
    """An index version's manifest facts and its articles by publication and year (None:
    none given), most first; dates are the stored ISO 8601 prefixes."""

    path: Path
    version: str
    format_version: int
    model: dict[str, Any]
    counts: dict[str, int]
    built_at: str
    by_publication: list[tuple[str | None, int]]
    by_year: list[tuple[str | None, int]]
    earliest: str | None
    latest: str | None
    undated: int


def index_overview(index_dir: str | Path) -> IndexOverview:
    """Read the manifest, then count the store's articles by publication and year."""
    version_dir = resolve_index_dir(Path(index_dir))
    manifest = read_manifest(version_dir)
    reader = StoreReader(version_dir / STORE_NAME)
    db = reader.connect()
    try:
        by_publication = [
            (row[0], int(row[1]))
            for row in db.execute(
                "SELECT publication, COUNT(*) AS n FROM articles GROUP BY publication "
                "ORDER BY n DESC, publication"
            )
        ]
        by_year = [
            (row[0], int(row[1]))
            for row in db.execute(
                "SELECT substr(published, 1, 4) AS year, COUNT(*) FROM articles "
                "GROUP BY year ORDER BY year IS NULL, year"
            )
        ]
        earliest, latest, undated = db.execute(
            "SELECT MIN(published), MAX(published), SUM(published IS NULL OR published = '') "
            "FROM articles"
        ).fetchone()
    finally:
        db.close()
    return IndexOverview(
        path=version_dir,
        version=manifest.version,
        format_version=manifest.format_version,
        model=manifest.model,
        counts=dict(manifest.counts),
        built_at=manifest.built_at,
        by_publication=by_publication,
        by_year=[(year or None, n) for year, n in by_year],
        earliest=earliest,
        latest=latest,
        undated=int(undated or 0),
    )
