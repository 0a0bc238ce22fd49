"""Article-level evidence in hybrid search: the formula by hand, and a long query that finds
the article matching it as a whole where its passages each match only part of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.storage.article_index import ArticleIndex, write_article_index
from semsearch.index.storage.manifest import ARTICLE_KEYWORD_DIR
from semsearch.search.articles import article_share, blend
from semsearch.search.fusion import Fusion
from semsearch.search.ranking import MIN_ARTICLE_WEIGHT
from semsearch.search.service import SearchService
from tests.support.fake_embedder import HashingEmbedder


def test_share_grows_with_the_query_as_a_square_up_to_one() -> None:
    assert article_share(0, 200) == 0.0
    assert article_share(20, 200) == pytest.approx(0.01)
    assert article_share(100, 200) == pytest.approx(0.25)
    assert article_share(400, 200) == 1.0


def test_pooled_vectors_are_normalised_means_by_article_key(tmp_path: Path) -> None:
    from semsearch.index.ingest.articles import Article
    from semsearch.index.storage.store import StoreWriter
    from semsearch.index.text.chunking import Chunk

    store = tmp_path / "store.sqlite"
    writer = StoreWriter(store)
    for article_id, texts in (("two", ["one part", "other part"]), ("one", ["single part"])):
        text = " ".join(texts)
        chunks, start = [], 0
        for n, part in enumerate(texts):
            chunks.append(Chunk(n, start, start + len(part), 2, part))
            start += len(part) + 1
        writer.add(Article(id=article_id, title=article_id, text=text), chunks)
    writer.close()  # chunk ids 1, 2 for "two", 3 for "one": keys 1 and 3
    vectors = {1: [1.0, 0.0], 2: [0.0, 1.0], 3: [1.0, 0.0]}
    write_article_index(
        store, tmp_path / "articles", lambda ids: np.asarray([vectors[i] for i in ids])
    )
    index = ArticleIndex(tmp_path / "articles")
    scores = dict(index.dense_scores(np.asarray([1.0, 0.0], dtype=np.float32), [1, 3]))
    assert scores[3] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(1 / np.sqrt(2))
    assert index.dense_scores(np.asarray([1.0, 0.0], dtype=np.float32), [2]) == []  # no key
    assert [k for k, _ in index.keyword_scores("other part", [1, 3])] == [1, 3]
    # Chunks 1, 2 are "two"'s and 3 is "one"'s, without gaps: the keys come from the array.
    assert index.contiguous
    assert index.keys_of([2, 3, 1]) == {2: 1, 3: 3, 1: 1}


def test_keys_of_needs_the_recorded_layout(tmp_path: Path) -> None:
    """Without layout.json (an index written before it) or with gaps recorded, the store
    is asked: keys_of says None."""
    from semsearch.index.ingest.articles import Article
    from semsearch.index.storage.article_index import LAYOUT_NAME
    from semsearch.index.storage.store import StoreWriter
    from semsearch.index.text.chunking import Chunk

    store = tmp_path / "store.sqlite"
    writer = StoreWriter(store)
    writer.add(Article(id="a", title="a", text="one part"), [Chunk(0, 0, 8, "one part", 2)])
    writer.close()
    write_article_index(store, tmp_path / "articles", lambda ids: np.ones((len(ids), 2)))
    assert ArticleIndex(tmp_path / "articles").keys_of([1]) == {1: 1}
    (tmp_path / "articles" / LAYOUT_NAME).write_text('{"contiguous": false}')
    assert ArticleIndex(tmp_path / "articles").keys_of([1]) is None
    (tmp_path / "articles" / LAYOUT_NAME).unlink()
    assert ArticleIndex(tmp_path / "articles").keys_of([1]) is None


def test_blend_mixes_each_passage_with_its_article_and_keeps_the_order_within_it() -> None:
    fused = [(1, 1.0), (2, 0.6), (3, 0.5)]  # chunks 1, 2 of article 1; chunk 3 of article 3
    chunk_article = {1: 1, 2: 1, 3: 3}
    dense, keyword = [(3, 0.9), (1, 0.1)], [(3, 5.0), (1, 1.0)]
    blended = blend(fused, chunk_article, dense, keyword, Fusion("linear", 0.5), 0.5)
    # Article 3 is the better article on both lists (1.0 after min-max, article 1 0.0).
    assert blended == [(3, pytest.approx(0.75)), (1, pytest.approx(0.5)), (2, pytest.approx(0.3))]
    assert blend(fused, chunk_article, dense, keyword, Fusion(), 0.0) == fused


def test_a_paragraph_query_finds_the_article_that_matches_it_as_a_whole(tmp_path: Path) -> None:
    # "whole" covers the query over its two passages, each passage half of it; "part" has one
    # passage holding a little more than half of the query's words; "echo" the other half.
    first = " ".join(f"alpha{i}" for i in range(12))
    second = " ".join(f"beta{i}" for i in range(12))

    def filler(name: str) -> str:  # words of its own: no article is a copy of another
        return " ".join(f"{name}{i}" for i in range(30))

    records = [
        {"id": "whole", "title": "One", "text": f"{first} {filler('w')}. {second} {filler('x')}."},
        {"id": "part", "title": "Two", "text": f"{first} beta0 beta1 {filler('p')}."},
        # The second half elsewhere too, so that its words are no rarer than the first's.
        {"id": "echo", "title": "Three", "text": f"{second} {filler('e')}."},
    ]
    records += [
        {"id": f"other{i}", "title": "Other", "text": f"unrelated words {filler(f'o{i}_')}."}
        for i in range(6)
    ]
    corpus = tmp_path / "a.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    embedder = HashingEmbedder(dimension=512, max_seq_tokens=48)
    build_index([corpus], tmp_path / "idx", embedder, {"chunk_tokens": 40, "overlap_tokens": 0})
    assert (tmp_path / "idx" / ARTICLE_KEYWORD_DIR).is_dir()
    query = f"{first} {second} " * 2  # 48 word pieces: as long as a passage, the full weight
    ranked = {}
    for weight in (0.0, 1.0):
        service = SearchService(
            tmp_path / "idx", embedder, {"article_weight": weight, "min_score": 0.0}
        )
        hits = service.search(query, 2, mode="hybrid", group="article").hits
        ranked[weight] = [h.article.id for h in hits]
        # Dense and keyword modes stay passage lists, whatever the weight.
        dense = service.search(query, 2, mode="dense", group="article").hits
        assert dense[0].article.id == "part"
    assert ranked[0.0][0] == "part"  # passages alone: the one passage with most of the query
    assert ranked[1.0][0] == "whole"  # with the article as a whole


def test_updates_keep_one_pooled_vector_per_article(tmp_path: Path) -> None:
    """add and delete rebuild the article-level index from the vectors read back from FAISS:
    one key and one pooled vector per article, each equal to its passages' normalised mean."""
    from semsearch.index.build.update import update_index
    from semsearch.index.storage.vectors import read_vector_index, stored_vectors

    def article(name: str, words: int) -> dict[str, str]:
        return {"id": name, "title": name, "text": " ".join(f"{name}{i}." for i in range(words))}

    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps(article("a", 80)) + "\n" + json.dumps(article("b", 10)) + "\n")
    embedder = HashingEmbedder(dimension=64, max_seq_tokens=32)
    build_index([first], tmp_path / "idx", embedder)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps(article("c", 60)) + "\n")
    update_index(tmp_path / "idx", embedder, add=[more])
    update_index(tmp_path / "idx", embedder, delete=["b"])
    service = SearchService(tmp_path / "idx", embedder)
    index = service.backend.articles
    assert index is not None and len(index.keys) == 2  # a and c
    vectors = read_vector_index(Path(service.target) / "vectors.faiss")
    rows = sorted(service.backend.store.chunk_articles().items())
    by_article: dict[str, list[int]] = {}
    for chunk_id, article_id in rows:
        by_article.setdefault(article_id, []).append(chunk_id)
    for chunk_ids in by_article.values():
        found = stored_vectors(vectors, chunk_ids)
        assert found is not None
        mean = found.mean(axis=0)
        row = int(np.searchsorted(index.keys, chunk_ids[0]))
        assert index.keys[row] == chunk_ids[0]
        assert np.allclose(index.pooled[row], mean / np.linalg.norm(mean), atol=1e-6)
    # After an add and a delete, the keys read from the array are still the store's.
    every = [chunk_id for chunk_id, _ in rows]
    assert index.contiguous
    assert index.keys_of(every) == service.backend.store.article_keys(every)


def test_a_short_question_is_ranked_on_its_passages_alone(tmp_path: Path) -> None:
    # Whole-article evidence at a weight under MIN_ARTICLE_WEIGHT would only re-order
    # near-ties: a short question's hybrid list is the passages' own, scores and all.
    records = [
        {
            "id": f"a{i}",
            "title": f"Title {i}",
            # Two passages or more: the article's evidence is not its one passage's.
            "text": f"harbour tide{i} ferry{i % 3} storm. "
            + " ".join(f"w{i}x{j}" for j in range(12 * (i + 1)))
            + ".",
        }
        for i in range(8)
    ]
    corpus = tmp_path / "a.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    embedder = HashingEmbedder(dimension=512, max_seq_tokens=48)
    build_index([corpus], tmp_path / "idx", embedder, {"chunk_tokens": 40, "overlap_tokens": 0})
    scored = {}
    for weight in (0.0, 1.0):
        service = SearchService(
            tmp_path / "idx", embedder, {"article_weight": weight, "min_score": 0.0}
        )
        # 3 word pieces of 40: weight 1.0 * (3 / 40)² = 0.0056, under the least worth using.
        assert weight * article_share(3, 40) < MIN_ARTICLE_WEIGHT
        hits = service.search("harbour ferry1 storm", 5, mode="hybrid").hits
        scored[weight] = [(h.passage.chunk_id, h.score) for h in hits]
    assert scored[1.0] == scored[0.0]
