"""Article-level evidence for hybrid search: how well the article *as a whole* answers.

Passages stay the unit that is shown and highlighted, but a passage-level list alone loses
the article when a long query (a paragraph) matches an article as a whole: its best passage
holds only part of the match. So hybrid search also scores each candidate article on

- a dense score: the cosine of the query with the article's pooled vector, the mean of its
  passages' vectors, normalised, made at build time (no extra model run);
- a keyword score: BM25 over the whole article (title + clean text, from the same analysis
  as the passages).
Both come from the article-level index, `keyword-articles/` (`index.storage.article_index`).

The two article lists are fused exactly as the passage lists are (the same method and
dense weight), and every passage's fused score becomes

    (1 - w) * passage score + w * its article's score,   w = article_weight * share

so within an article the passages keep their order and the best one is still shown. The
candidates are the articles of the passage candidates: a re-ranking, not a third retrieval.

`share` grows with the query's length: (query word pieces / passage budget)², at most 1. A
question of 15 words matches a passage, and even a small fixed weight of whole-article
evidence cost the news questions 0.006 to 0.016 nDCG@10 (their articles run to 4 or 5
passages); a query as long as a passage (a paragraph) matches an article as a whole, and
there article evidence gained 0.012 to 0.019 (docs/relevance.md, "Article-level evidence").
"""

from __future__ import annotations

from collections.abc import Mapping

from semsearch.search.fusion import Fusion, best_first, fuse


def article_share(query_tokens: int, passage_tokens: int) -> float:
    """The share of article_weight a query of `query_tokens` word pieces gets, for passages
    of `passage_tokens`: the square of their ratio, at most 1."""
    if passage_tokens <= 0:
        return 1.0
    return min(1.0, query_tokens / passage_tokens) ** 2


def blend(
    fused: list[tuple[int, float]],
    chunk_article: Mapping[int, int],
    dense: list[tuple[int, float]],
    keyword: list[tuple[int, float]],
    fusion: Fusion,
    weight: float,
) -> list[tuple[int, float]]:
    """The fused passage list re-scored with its articles' fused article-level lists (see
    the module's formula), best first; a passage of an article without evidence keeps its
    own share only."""
    if weight <= 0:
        return fused
    article_score = dict(fuse(dense, keyword, fusion))
    blended = [
        (
            chunk_id,
            (1 - weight) * score + weight * article_score.get(chunk_article.get(chunk_id, -1), 0.0),
        )
        for chunk_id, score in fused
    ]
    return best_first(blended)
