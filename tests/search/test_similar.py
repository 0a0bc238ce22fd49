"""More like this: articles nearest to one article by its stored passage vectors."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.errors import NotFoundError
from semsearch.search.service import SearchService
from semsearch.search.similar import copy_ids

BRIDGE = "01_wexley_street_swing_bridge"


def test_similar_leaves_out_the_article_and_lists_each_once(demo_service: SearchService) -> None:
    found = demo_service.similar(BRIDGE, 9)
    ids = [hit.article.id for hit in found.hits]
    assert BRIDGE not in ids
    assert len(ids) == len(set(ids)) == 9  # the other nine demo articles, once each
    scores = [hit.score for hit in found.hits]
    assert scores == sorted(scores, reverse=True)


def test_similar_uses_the_stored_vectors(demo_service: SearchService) -> None:
    backend = demo_service.backend
    article = demo_service.article(BRIDGE)
    chunk_ids = [cid for cid, _, _ in article.passages]
    stored = backend.stored_vectors(chunk_ids)
    assert stored is not None and stored.shape == (len(chunk_ids), 256)
    # Each stored vector is its passage's: its nearest stored vector is itself.
    for cid, vector in zip(chunk_ids[:3], stored[:3], strict=True):
        assert backend.dense(vector, 1, None)[0][0] == cid
    mean = stored.mean(axis=0)
    mean /= np.linalg.norm(mean)
    best = demo_service.similar(BRIDGE, 1).hits[0]
    nearest = backend.stored_vectors([best.passage.chunk_id])
    assert nearest is not None
    assert best.score == pytest.approx(float(mean @ nearest[0]), abs=1e-3)


def test_copies_are_left_out() -> None:
    class Copy:
        id = "copy-2"

    assert copy_ids({"copies": [{"id": "copy-1"}]}, [Copy()]) == {"copy-1", "copy-2"}
    assert copy_ids({}) == set()


def test_similar_api_and_page(client) -> None:
    answer = client.get(f"/api/articles/{BRIDGE}/similar?k=3").get_json()
    assert answer["ok"] and answer["article"]["id"] == BRIDGE and answer["k"] == 3
    assert len(answer["results"]) == 3
    assert BRIDGE not in {r["article"]["id"] for r in answer["results"]}
    assert client.get(f"/api/articles/{BRIDGE}/similar?k=0").status_code == 400
    assert client.get(f"/api/articles/{BRIDGE}/similar?n=3").status_code == 400
    missing = client.get("/api/articles/no-such-article/similar")
    assert missing.status_code == 404 and missing.get_json()["ok"] is False
    page = client.get(f"/articles/{BRIDGE}/similar")
    assert page.status_code == 200 and page.data.count(b'<li class="hit">') == 9
    search = client.get("/?q=bridge+repairs").data.decode()
    assert f'href="/articles/{BRIDGE}/similar"' in search


def test_unknown_article(demo_service: SearchService) -> None:
    with pytest.raises(NotFoundError):
        demo_service.similar("no-such-article")
