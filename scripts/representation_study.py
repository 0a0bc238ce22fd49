#!/usr/bin/env python
"""Would another representation or keyword setting lift hybrid search on real judgments?

    .venv/bin/python scripts/representation_study.py --index DIR --queries Q.jsonl --qrels R.tsv

The fusion study (scripts/fusion_study.py) varies how the two lists are fused; this one
varies what goes into them, with the index's own fusion (linear; the dense weight the
build chose, 0.5 on SciFact and the news questions):

- BM25 k1 and b (Anserini's 0.9 / 0.4 among them), re-indexing the same passages;
- a whole-article vector (title + text, cut at the model's window, as MTEB embeds SciFact),
  as the best of it and each passage, or mixed into each passage's score;
- sentence vectors: every sentence embedded with its title, a passage scored as a mix of
  its own cosine and its best sentence's;
- dense pseudo-relevance feedback: the query vector moved towards the fused top 3 passages.

Every query's full score over every passage is computed once (exact search), and each
variant is ranked as the service ranks: lists as deep as it draws them for k results
grouped by article (1,000 for `semsearch eval`'s k=100), fused by the product's own code,
each article at its best passage's rank, lists 4 times deeper while they hold fewer than k
articles. Not redone here: dropping near-duplicate passages and the `min_score` refusal;
the baseline must therefore score what the service's own lists score, or the study stops.

Prints nDCG@10 of the dense list and of hybrid for each variant, and hybrid's paired gain
over the baseline with its standard error. Embedding every sentence takes minutes
(SciFact: 44,545 in 295 s on 2 cores). The judgments are for study only: the product never
tunes on them.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from semsearch.index.storage.keyword_index import K1, B
from semsearch.index.storage.vectors import search_vectors
from semsearch.index.text.analysis import bm25s_library as _bm25s
from semsearch.index.text.analysis import index_words as tokenize
from semsearch.index.text.analysis import new_stemmer as _stemmer
from semsearch.index.text.analysis import query_words as query_tokenize
from semsearch.index.text.chunking import split_sentences
from semsearch.search.backends.directory import directory_backend
from semsearch.search.evaluate import ndcg_at, read_qrels, read_queries
from semsearch.search.fusion import Fusion, fuse
from semsearch.search.service import SearchService
from semsearch.settings import get_setting

Matrix = np.ndarray  # queries x passages, in chunk id order


def top(scores: np.ndarray, depth: int, positive: bool = False) -> np.ndarray:
    """Rows of the `depth` best scores, best first (ties by row), above 0 if `positive`."""
    depth = min(depth, len(scores))
    rows = np.argpartition(-scores, depth - 1)[:depth]
    rows = rows[np.lexsort((rows, -scores[rows]))]
    return rows[scores[rows] > 0] if positive else rows


def linear(dense: np.ndarray, keyword: np.ndarray, depth: int, weight: float = 0.5) -> list[int]:
    """The product's own linear fusion (semsearch.search.fusion) of each row's top lists. Rows stand
    in for chunk ids: they are in chunk id order, so ties break the same way."""
    dense_list, keyword_list = (
        [(row, float(scores[row])) for row in top(scores, depth, positive).tolist()]
        for scores, positive in ((dense, False), (keyword, True))
    )
    return [row for row, _ in fuse(dense_list, keyword_list, Fusion("linear", weight))]


def article_order(rows: list[int] | np.ndarray, article_of: list[str], k: int = 100) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.setdefault(article_of[row], None)
        if len(seen) >= k:
            break
    return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", required=True, type=Path)
    parser.add_argument("--qrels", required=True, type=Path)
    parser.add_argument("--k", type=int, default=100, help="results a query asks for")
    args = parser.parse_args()
    # Passages alone: the study emulates the passage-level ranking (article_weight 0).
    service = SearchService.open(args.index, {"article_weight": 0.0})
    study(service, read_queries(args.queries), read_qrels(args.qrels), args.k)


def study(
    service: SearchService,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    k: int = 100,
) -> dict[str, tuple[float, float]]:
    """Print and return (dense nDCG@10, hybrid nDCG@10) for the service's own lists
    ("service") and for each variant ("baseline" is the emulated product)."""
    fusion = service.fusion()
    if fusion.method != "linear":
        raise SystemExit(f"the index fuses by {fusion.method}; the study redoes linear only")
    weight = fusion.dense_weight
    # As Ranker.rank draws candidates for a grouped query.
    depth = max(int(get_setting("candidates", service.settings)), 4 * k, 10 * k)
    judged = [q for q in qrels if q in queries]
    db = service.backend.store.connect()
    chunks = db.execute(
        """SELECT c.id, c.article_id, c.start, c.end, a.title, c.text
           FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id"""
    ).fetchall()
    chunk_ids = np.array([c[0] for c in chunks])
    article_of = [c[1] for c in chunks]
    row_of = {int(cid): row for row, cid in enumerate(chunk_ids)}
    Q = np.stack([service.embedder.encode_query(queries[q]) for q in judged])
    D = np.zeros((len(judged), len(chunks)), np.float32)
    X = np.zeros((len(chunks), Q.shape[1]), np.float32)
    for i in range(len(judged)):
        for cid, cosine in search_vectors(
            directory_backend(service.backend).vectors, Q[i], len(chunks)
        ):
            D[i, row_of[cid]] = cosine
    # The passage vectors themselves, for feedback: a flat index stores them as they are.
    inner = faiss.downcast_index(directory_backend(service.backend).vectors.index)
    if not isinstance(inner, faiss.IndexFlat):
        raise SystemExit("the index is approximate (IVF); the study needs a flat one")
    ids = faiss.vector_to_array(directory_backend(service.backend).vectors.id_map)
    stored = inner.reconstruct_n(0, inner.ntotal)
    X[[row_of[int(cid)] for cid in ids]] = stored
    assert np.abs(Q @ X.T - D).max() < 1e-4, "passage vectors do not give the exact scores"

    stemmer = _stemmer()
    passage_words = tokenize([f"{c[4]}\n{c[5]}" for c in chunks], stemmer)
    query_words = [query_tokenize(queries[q], stemmer) for q in judged]

    def bm25(k1: float, b: float) -> Matrix:
        model = _bm25s().BM25(k1=k1, b=b)
        model.index(passage_words, show_progress=False)
        scores = np.zeros_like(D)
        for i, words in enumerate(query_words):
            known = [w for w in dict.fromkeys(words) if w in model.vocab_dict]
            if known:
                scores[i] = model.get_scores(known)
        return scores

    K = bm25(K1, B)  # the product's setting

    def ndcg(rank: Callable[[int], list[str]]) -> np.ndarray:
        return np.array([ndcg_at(rank(i), qrels[q], 10) for i, q in enumerate(judged)])

    def ranked_articles(dense: np.ndarray, keyword: np.ndarray | None) -> list[str]:
        """The service's loop: lists `depth` deep, 4 times deeper while they hold fewer than
        k articles and are not exhausted (Ranker.rank)."""
        deep = depth
        while True:
            if keyword is None:
                ranked = article_order(top(dense, deep), article_of, k)
                exhausted = len(dense) < deep
            else:
                ranked = article_order(linear(dense, keyword, deep, weight), article_of, k)
                exhausted = len(dense) < deep and int(np.sum(keyword > 0)) < deep
            if len(ranked) >= k or exhausted or deep >= len(dense):
                return ranked
            deep = min(deep * 4, len(dense))

    def hybrid(dense: Matrix, keyword: Matrix) -> np.ndarray:
        return ndcg(lambda i: ranked_articles(dense[i], keyword[i]))

    results: dict[str, tuple[float, float]] = {}
    base = hybrid(D, K)
    service_lists = ndcg(
        lambda i: [
            h.article.id
            for h in service.search(queries[judged[i]], k, mode="hybrid", group="article").hits
        ]
    )
    print(
        f"{len(judged)} judged queries; baseline hybrid nDCG@10 {base.mean():.4f} "
        f"(the service: {service_lists.mean():.4f})"
    )
    results["service"] = (float("nan"), float(service_lists.mean()))
    differ = int(np.sum(np.abs(base - service_lists) > 1e-9))
    if differ:
        raise SystemExit(f"the emulated ranking differs from the service's on {differ} queries")

    def report(name: str, dense: Matrix, keyword: Matrix = K) -> None:
        dense_only = ndcg(lambda i: ranked_articles(dense[i], None))
        fused = hybrid(dense, keyword)
        results[name] = (float(dense_only.mean()), float(fused.mean()))
        gain = fused - base
        error = gain.std(ddof=1) / math.sqrt(len(gain))
        print(
            f"{name:<44} dense {dense_only.mean():.4f}  hybrid {fused.mean():.4f}  "
            f"gain {gain.mean():+.4f} (standard error {error:.4f})",
            flush=True,
        )

    report(f"baseline (passages, BM25 k1 {K1} b {B})", D)
    for k1, b in ((0.9, 0.4), (0.9, 0.75), (1.6, 0.9)):
        report(f"BM25 k1 {k1} b {b}", D, bm25(k1, b))

    articles = db.execute("SELECT id, title, text FROM articles").fetchall()
    article_vectors = service.embedder.encode_documents([f"{t}\n{x}" for _, t, x in articles])
    column = {a[0]: n for n, a in enumerate(articles)}
    whole = (Q @ article_vectors.T)[:, [column[a] for a in article_of]]
    report("whole article alone (MTEB's way of embedding)", whole)
    report("whole article: best of it and the passage", np.maximum(D, whole))
    for mix in (0.5, 0.8):
        report(f"whole article: {mix} passage + {1 - mix:.1f} article", mix * D + (1 - mix) * whole)

    sentence_texts, spans = [], []
    for article_id, title, text in articles:
        for start, end in split_sentences(text):
            sentence_texts.append(f"{title}\n{text[start:end]}")
            spans.append((article_id, start, end))
    sentence_scores = Q @ service.embedder.encode_documents(sentence_texts).T
    by_article: dict[str, list[tuple[int, int, int]]] = {}
    for n, (article_id, start, end) in enumerate(spans):
        by_article.setdefault(article_id, []).append((n, start, end))
    best_sentence = D.copy()  # a passage without a sentence of its own keeps its cosine
    for row, (_, article_id, start, end, _, _) in enumerate(chunks):
        inside = [n for n, s, e in by_article.get(article_id, []) if s < end and e > start]
        if inside:
            best_sentence[:, row] = sentence_scores[:, inside].max(axis=1)
    print(f"sentences embedded: {len(sentence_texts)}")
    for mix in (0.0, 0.5, 0.7):
        mixed = mix * D + (1 - mix) * best_sentence
        report(f"sentences: {mix} passage + {1 - mix:.1f} best sentence", mixed)

    moved = np.empty_like(D)
    for i in range(len(judged)):
        feedback = X[linear(D[i], K[i], depth, weight)[:3]].mean(axis=0)
        vector = Q[i] + feedback
        moved[i] = X @ (vector / np.linalg.norm(vector))
    report("dense feedback: query + mean of fused top 3", moved)
    db.close()
    return results


if __name__ == "__main__":
    main()
