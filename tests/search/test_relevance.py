"""Modes, fusion, pre-filters, grouping, dedupe, best sentence, no-match, and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsearch.cli import cli
from semsearch.errors import BadQueryError
from semsearch.index.build.builder import build_index
from semsearch.search.evaluate import evaluate, mrr_at, ndcg_at, read_qrels, read_queries, recall_at
from semsearch.search.fusion import Fusion, fuse
from semsearch.search.service import SearchService
from tests.support.fake_embedder import HashingEmbedder


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def run_eval(runner, index: Path, queries: Path, qrels: Path, *extra: str):
    """`semsearch eval` through click's runner, with the fake model."""
    return runner.invoke(
        cli,
        [
            "eval",
            "--index",
            str(index),
            "--model",
            "hashing-256",
            "--queries",
            str(queries),
            "--qrels",
            str(qrels),
            *extra,
        ],
    )


def test_rrf_and_linear_fusion_by_hand() -> None:
    dense = [(1, 0.9), (2, 0.8), (3, 0.1)]
    keyword = [(3, 12.0), (1, 6.0), (4, 1.0)]
    rrf = fuse(dense, keyword, Fusion("rrf", 0.5, rrf_k=1))
    # 1: .5/2 + .5/3; 3: .5/4 + .5/2; 2: .5/3; 4: .5/4
    assert [cid for cid, _ in rrf] == [1, 3, 2, 4]
    linear = fuse(dense, keyword, Fusion("linear", 0.5))
    scores = dict(linear)
    assert scores[1] == pytest.approx(0.5 * 1.0 + 0.5 * (5 / 11))
    assert scores[3] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert [cid for cid, _ in fuse(dense, keyword, Fusion("linear", 1.0))][:3] == [1, 2, 3]
    with pytest.raises(ValueError):
        Fusion("max", 0.5)


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> SearchService:
    """Twelve short articles; filters and groups have known answers."""
    folder = tmp_path_factory.mktemp("news")
    records = []
    for i in range(12):
        records.append(
            {
                "id": f"n{i}",
                "title": f"Harbour report {i}",
                "text": f"The harbour dredging report number {i} covers silt and tides. "
                f"Unrelated filler sentence about weather {i}.",
                "published": f"20{10 + i}-06-15",
                "publication": "Gazette" if i % 2 else "Courier",
                "author": "Ann Lee" if i < 6 else "Bo Kim and Ann Lee" if i < 9 else "Cy Ode",
            }
        )
    records.append(
        {
            "id": "long",
            "title": "Festival",
            "text": "The harbour festival opened. "
            + "Boats sailed past. " * 40
            + "The harbour festival closed with fireworks over the tides.",
        }
    )
    records.append(
        {"id": "copy", "title": "Syndicated", "text": records[0]["text"]}
    )  # a syndicated copy of n0
    records.append({"id": "other", "title": "Gardens", "text": "Roses need pruning in March."})
    write_jsonl(folder / "news.jsonl", records)
    embedder = HashingEmbedder(dimension=256, max_seq_tokens=24)
    build_index([folder / "news.jsonl"], folder / "idx", embedder)
    return SearchService(folder / "idx", embedder, {"min_score": 0.05})


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_every_mode_answers(news: SearchService, mode: str) -> None:
    result = news.search("harbour dredging silt", 5, mode=mode)
    assert result.mode == mode and len(result.hits) == 5
    ids = [h.article.id for h in result.hits]
    assert all(i.startswith("n") or i == "copy" for i in ids), ids
    assert not {"n0", "copy"} <= set(ids)  # identical texts: one of them, never both
    if mode == "hybrid":
        assert all(h.dense_score is not None or h.keyword_score is not None for h in result.hits)


def test_filters_run_before_ranking_and_never_starve(news: SearchService) -> None:
    # Only three articles match, and they rank low without the filter.
    filters = {"author": "cy ode"}
    for mode in ("dense", "keyword", "hybrid"):
        result = news.search(
            "harbour dredging silt tides", 3, mode=mode, group="article", filters=filters
        )
        assert sorted(h.article.id for h in result.hits) == ["n10", "n11", "n9"], mode
    result = news.search(
        "harbour dredging report",
        4,
        group="article",
        filters={"published_from": "2013", "published_to": "2016-06", "publication": "gazette"},
    )
    assert sorted(h.article.id for h in result.hits) == ["n3", "n5"]
    assert result.filters == {
        "published_from": "2013",
        "published_to": "2016-06",
        "publication": "gazette",
    }
    empty = news.search("harbour", 3, filters={"publication": "Nobody"})
    assert empty.hits == [] and empty.reason == "no article matches the filters"


def test_bad_filters_are_rejected(news: SearchService) -> None:
    for filters, message in [
        ({"published_from": "June 2017"}, "YYYY, YYYY-MM or YYYY-MM-DD"),
        ({"published_from": "2018", "published_to": "2017"}, "is after published_to"),
        ({"author": ["x"]}, "author must be a string"),
    ]:
        with pytest.raises(BadQueryError, match=message):
            news.search("harbour", 3, filters=filters)
    with pytest.raises(BadQueryError, match="mode must be one of"):
        news.search("harbour", 3, mode="fuzzy")
    with pytest.raises(BadQueryError, match="group must be one of"):
        news.search("harbour", 3, group="author")


def test_group_by_article_lists_other_passages(news: SearchService) -> None:
    result = news.search("harbour festival fireworks boats", 3, mode="keyword", group="article")
    ids = [h.article.id for h in result.hits]
    assert len(ids) == len(set(ids)) == 3
    festival = result.hits[ids.index("long")]
    assert festival.also, "the long article has several matching passages"
    assert all(p.chunk_id != festival.passage.chunk_id for p in festival.also)


def test_near_identical_passages_do_not_fill_the_list(news: SearchService) -> None:
    result = news.search("harbour dredging report number 0 silt tides", 5, mode="keyword")
    ids = [h.article.id for h in result.hits]
    assert ("n0" in ids) != ("copy" in ids), ids  # one of the two identical texts, not both


def test_best_sentence_is_named(news: SearchService) -> None:
    hit = news.search("fireworks over the tides", 1, mode="keyword").hits[0]
    start, end = hit.passage.best_sentence
    assert hit.passage.text[start:end] == (
        "The harbour festival closed with fireworks over the tides."
    )


def test_nothing_relevant_says_so(news: SearchService) -> None:
    keyword = news.search("quantum chromodynamics", 5, mode="keyword")
    assert keyword.hits == [] and "no passage contains" in keyword.reason
    strict = SearchService(news.index_path, news.embedder, {"min_score": 0.99})
    dense = strict.search("quantum chromodynamics", 5, mode="dense")
    assert dense.hits == [] and "no passage is close enough" in dense.reason


def test_api_and_page_take_modes_and_filters(news: SearchService) -> None:
    from lxml import html

    from semsearch.web import create_app

    client = create_app({"TESTING": True, "SEARCH_SERVICE": news}).test_client()
    body = client.post(
        "/api/search",
        json={
            "q": "harbour silt",
            "k": 3,
            "mode": "keyword",
            "group": "article",
            "author": "Cy Ode",
        },
    ).get_json()
    assert body["mode"] == "keyword" and body["group"] == "article"
    assert body["filters"] == {"author": "Cy Ode"}
    assert {r["article"]["id"] for r in body["results"]} == {"n9", "n10", "n11"}
    assert body["results"][0]["passage"]["best_sentence"]["text"].startswith("The harbour")
    bad = client.get("/api/search?q=harbour&published_to=last+week")
    assert bad.status_code == 400 and "published_to" in bad.get_json()["error"]
    page = client.get("/?q=quantum+chromodynamics&mode=keyword")
    assert page.status_code == 200
    text = html.fromstring(page.data).cssselect("p.empty")[0].text_content()
    assert text.startswith("No good match: no passage contains")
    page = html.fromstring(client.get("/?q=festival+fireworks&mode=keyword").data)
    assert page.cssselect("blockquote .best mark")
    assert page.cssselect("select[name=mode] option[selected]")[0].get("value") == "keyword"


def test_metrics_by_hand() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at(["c", "a"], relevant, 10) == pytest.approx(
        (1 / 1.584962500721156) / (1 + 1 / 1.584962500721156)
    )
    assert recall_at(["c", "a"], relevant, 10) == 0.5
    assert mrr_at(["c", "x", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at(["c"], relevant, 10) == 0.0


def test_eval_on_a_tiny_beir_fixture(tmp_path: Path, runner) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Tides", "text": "Tidal turbines make power from the sea."},
            {"_id": "d2", "title": "Bread", "text": "Rye sourdough needs a long ferment."},
            {"_id": "d3", "title": "Trains", "text": "The tram strike lasted nine days."},
        ],
    )
    queries = write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "tidal turbines sea power"},
            {"_id": "q2", "text": "rye sourdough ferment"},
            {"_id": "q3", "text": "unjudged query"},
        ],
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\td3\t1\n", encoding="utf-8"
    )
    embedder = HashingEmbedder(dimension=256)
    build_index([corpus], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0})
    report = evaluate(service, read_queries(queries), read_qrels(qrels), "keyword")
    # q1: d1 first (nDCG 1); q2: d2 first, d3 not retrieved (no shared word).
    q2_ndcg = 1.0 / (1.0 + 1.0 / 1.584962500721156)
    assert report.queries == 2
    assert report.ndcg_10 == pytest.approx((1.0 + q2_ndcg) / 2)
    assert report.recall_10 == pytest.approx((1.0 + 0.5) / 2)
    assert report.mrr_10 == pytest.approx(1.0)
    result = run_eval(runner, tmp_path / "idx", queries, qrels, "--mode", "keyword")
    assert result.exit_code == 0, result.output
    assert "keyword" in result.output and f"{report.ndcg_10:.4f}" in result.output


def test_a_filter_that_would_starve_a_post_filter_still_returns_k(tmp_path: Path) -> None:
    """40 strong decoys and 3 weak matches by one author; candidates are few (12), so
    filtering after ranking would return nothing. Filtering first returns all three."""
    records = [
        {
            "id": f"decoy{i}",
            "title": "Harbour harbour",
            "author": "Dee Coy",
            "text": f"Harbour dredging {i} harbour silt harbour tides harbour dredging.",
        }
        for i in range(40)
    ]
    records += [
        {
            "id": f"weak{i}",
            "title": f"Note {i}",
            "author": "Wes Weak",
            "text": f"A short note {i} that mentions the harbour once among other things.",
        }
        for i in range(3)
    ]
    write_jsonl(tmp_path / "a.jsonl", records)
    embedder = HashingEmbedder(dimension=256)
    build_index([tmp_path / "a.jsonl"], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"candidates": 1, "min_score": 0.0})
    for mode in ("dense", "keyword", "hybrid"):
        unfiltered = service.search("harbour dredging silt", 3, mode=mode)
        assert [h.article.author for h in unfiltered.hits] == ["Dee Coy"] * 3
        result = service.search(
            "harbour dredging silt", 3, mode=mode, filters={"author": "Wes Weak"}
        )
        assert sorted(h.article.id for h in result.hits) == ["weak0", "weak1", "weak2"], mode


def test_build_tunes_fusion_and_search_uses_it(tmp_path: Path) -> None:
    import random

    from semsearch.search.tuning import GRID, build_tuner

    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(400)]
    records = []
    for i in range(40):
        topic = rng.sample(vocabulary, 30)  # each article its own words
        sentences = [" ".join(rng.choices(topic, k=10)).capitalize() + "." for _ in range(8)]
        records.append({"id": f"a{i}", "title": f"Article {i}", "text": " ".join(sentences)})
    write_jsonl(tmp_path / "a.jsonl", records)
    embedder = HashingEmbedder(dimension=256, max_seq_tokens=40)
    report = build_index(
        [tmp_path / "a.jsonl"],
        tmp_path / "idx",
        embedder,
        tune=build_tuner(embedder),
    )
    fusion = report.fusion
    assert fusion is not None and fusion["probes"] >= 30
    assert any(
        f.method == fusion["method"] and f.dense_weight == fusion["dense_weight"] for f in GRID
    )
    grid_best = max(fusion["grid"].values())
    if fusion["best_probe_setting"] == f"{fusion['method']}:{fusion['dense_weight']}":
        assert fusion["probe_mrr_10"] == grid_best
    else:  # the default was kept: the best setting's gain was within the noise
        assert (fusion["method"], fusion["dense_weight"]) == ("linear", 0.6)
        assert fusion["best_gain_over_default"] <= 2 * fusion["best_gain_standard_error"]
    service = SearchService(tmp_path / "idx", embedder)
    assert service.manifest.fusion == fusion
    assert (service.fusion().method, service.fusion().dense_weight) == (
        fusion["method"],
        fusion["dense_weight"],
    )
    override = SearchService(tmp_path / "idx", embedder, {"fusion": "rrf", "dense_weight": 0.9})
    assert (override.fusion().method, override.fusion().dense_weight) == ("rrf", 0.9)


def test_one_passage_articles_are_tuned_with_held_out_copies(tmp_path: Path) -> None:
    """News wires and abstracts are one passage each: the probes cannot find an article by
    its other passages, so each probe scores its passage without the probe's sentence."""
    import random

    from semsearch.search.tuning import build_tuner, make_probes

    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(400)]
    records = []
    for i in range(60):
        topic = rng.sample(vocabulary, 30)
        sentences = [" ".join(rng.choices(topic, k=10)).capitalize() + "." for _ in range(3)]
        records.append({"id": f"a{i}", "title": f"Article {i}", "text": " ".join(sentences)})
    write_jsonl(tmp_path / "a.jsonl", records)
    embedder = HashingEmbedder(dimension=256, max_seq_tokens=200)
    report = build_index(
        [tmp_path / "a.jsonl"], tmp_path / "idx", embedder, tune=build_tuner(embedder)
    )
    assert report.chunks == 60  # one passage each
    fusion = report.fusion
    assert fusion is not None, "a one-passage collection must still be tuned"
    assert fusion["probe_kind"] == "held-out copies"
    assert fusion["held_out_probes"] == fusion["probes"] >= 30
    assert fusion["chosen_by"] in ("probes", "default") and fusion["reason"]
    # The held-out sentences are hard to find among 60 articles of shared words only if the
    # sentence were gone with its passage: with held-out copies most probes find theirs.
    assert fusion["probe_mrr_10"] > 0.5
    service = SearchService(tmp_path / "idx", embedder)
    text = {r["id"]: r["text"] for r in records}
    for probe in make_probes(service, count=20, single_passage=True):
        (held,) = probe.held_out
        assert held.chunk_id in probe.excluded
        whole = " ".join(text[probe.article_id].split())
        assert len(held.text) < len(whole)
        assert held.text.split() != whole.split()
        assert set(held.text.split()) <= set(whole.split())


def test_tuning_works_whatever_weight_the_environment_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weight off the grid (0.55) once made the build fail after all its embedding."""
    from semsearch.search.tuning import build_tuner

    monkeypatch.setenv("SEMSEARCH_DENSE_WEIGHT", "0.55")
    records = [
        {
            "id": f"a{i}",
            "title": f"Article {i}",
            "text": " ".join(
                f"Sentence {j} of article {i} about topic{i} and item{j}." for j in range(12)
            ),
        }
        for i in range(40)
    ]
    write_jsonl(tmp_path / "a.jsonl", records)
    embedder = HashingEmbedder(dimension=128, max_seq_tokens=40)
    report = build_index(
        [tmp_path / "a.jsonl"],
        tmp_path / "idx",
        embedder,
        tune=build_tuner(embedder),
    )
    assert report.fusion is not None and report.fusion["dense_weight"] in {
        w / 10 for w in range(11)
    }
    # The environment still wins when searching.
    assert SearchService(tmp_path / "idx", embedder).fusion().dense_weight == 0.55


def test_a_probe_gain_within_the_noise_keeps_the_default() -> None:
    from semsearch.search.tuning import NOISE_ERRORS, paired_gain

    default = [1.0, 0.5, 0.0, 0.25] * 50
    noisy = [1.0, 0.5, 0.1, 0.25] * 25 + [0.5, 0.5, 0.0, 0.25] * 25  # +0.025 -0.125 ...
    gain, error = paired_gain(noisy, default)
    assert gain < NOISE_ERRORS * error
    clear = [1.0, 1.0, 0.5, 0.5] * 50
    gain, error = paired_gain(clear, default)
    assert gain > NOISE_ERRORS * error and gain == pytest.approx(0.3125)


def test_small_collections_keep_the_default_fusion(tmp_path: Path) -> None:
    from semsearch.search.tuning import build_tuner

    write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "One short article."}])
    embedder = HashingEmbedder(dimension=64)
    report = build_index(
        [tmp_path / "a.jsonl"],
        tmp_path / "idx",
        embedder,
        tune=build_tuner(embedder),
    )
    assert report.fusion is None
    assert SearchService(tmp_path / "idx", embedder).fusion().dense_weight == 0.6


def test_hybrid_answers_an_exact_match_below_the_similarity_threshold(
    news: SearchService,
) -> None:
    strict = SearchService(news.index_path, news.embedder, {"min_score": 0.99})
    found = strict.search("fireworks harbour", 3, mode="hybrid")
    assert found.hits and found.reason is None  # every query word is in some passage
    assert strict.search("fireworks harbour", 3, mode="dense").hits == []
    refused = strict.search("fireworks quantum", 3, mode="hybrid")
    assert refused.hits == [] and "no passage is close enough" in refused.reason


def test_environment_fusion_setting_beats_the_tuned_one(news: SearchService, monkeypatch) -> None:
    from dataclasses import replace

    tuned = SearchService(news.index_path, news.embedder)
    tuned.manifest = replace(tuned.manifest, fusion={"method": "linear", "dense_weight": 0.2})
    assert (tuned.fusion().method, tuned.fusion().dense_weight) == ("linear", 0.2)
    monkeypatch.setenv("SEMSEARCH_DENSE_WEIGHT", "0.7")
    assert (tuned.fusion().method, tuned.fusion().dense_weight) == ("linear", 0.7)


def test_parameters_that_once_gave_500s(news: SearchService) -> None:
    from lxml import html

    from semsearch.web import create_app

    client = create_app({"TESTING": True, "SEARCH_SERVICE": news}).test_client()
    for k in ("++5", "9" * 4301, "-1", " 5 5"):
        response = client.get("/api/search", query_string={"q": "harbour", "k": k})
        assert response.status_code == 400, k
    assert client.post("/api/search", json={"q": "harbour", "k": "++5"}).status_code == 400
    assert client.get("/api/search", query_string={"q": "harbour", "k": "+5"}).status_code == 200
    for extra in (
        {"endpoint": "x"},
        {"_method": "DELETE"},
        {"_external": "1"},
        {"_scheme": "https", "_external": ""},
        {"_anchor": "x"},
    ):
        response = client.get(
            "/", query_string={"q": "harbour", **extra}, headers={"Host": "evil.example"}
        )
        assert response.status_code == 200, extra
        link = html.fromstring(response.data).cssselect('link[rel="alternate"]')[0].get("href")
        assert link.startswith("/api/search?") and "evil" not in link and "#" not in link


def test_unicode_filters_ignore_case(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "u.jsonl",
        [
            {
                "id": "z",
                "title": "Germinal",
                "text": "Miners strike in the north.",
                "publication": "Ärzte Zeitung",
                "author": "Émile Zola",
            },
            {
                "id": "o",
                "title": "Other",
                "text": "Miners strike in the south.",
                "publication": "Other",
                "author": "Someone Else",
            },
        ],
    )
    embedder = HashingEmbedder(dimension=64)
    build_index([tmp_path / "u.jsonl"], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0})
    for filters in (
        {"publication": "ärzte zeitung"},
        {"publication": "ÄRZTE ZEITUNG"},
        {"author": "émile"},
        {"author": "ZOLA"},
    ):
        hits = service.search("miners strike", 5, filters=filters).hits
        assert [h.article.id for h in hits] == ["z"], filters


def test_grouping_looks_deeper_when_long_articles_fill_the_candidates(tmp_path: Path) -> None:
    long_text = " ".join(f"The harbour tides report part {i} continues." for i in range(60))
    records = [
        {"id": f"long{i}", "title": "Long", "text": long_text + f" Copy {i}."} for i in range(3)
    ]
    records += [
        {
            "id": f"short{i}",
            "title": f"Short {i}",
            "text": f"Short note {i} about the harbour and other things.",
        }
        for i in range(9)
    ]
    write_jsonl(tmp_path / "g.jsonl", records)
    embedder = HashingEmbedder(dimension=256, max_seq_tokens=24)
    build_index([tmp_path / "g.jsonl"], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0, "candidates": 1})
    for mode in ("dense", "keyword", "hybrid"):
        hits = service.search("harbour tides report", 10, mode=mode, group="article").hits
        assert len({h.article.id for h in hits}) == 10, mode


def test_exact_match_fallback_handles_possessives_and_adds_no_weak_passages(
    news: SearchService,
) -> None:
    strict = SearchService(news.index_path, news.embedder, {"min_score": 0.99})
    result = strict.search("festival's fireworks", 5, mode="hybrid")
    assert result.hits, result.reason
    assert all(h.keyword_score is not None for h in result.hits)  # none on dense alone


def test_page_form_shows_the_configured_defaults(news: SearchService, monkeypatch) -> None:
    from lxml import html

    from semsearch.web import create_app

    monkeypatch.setenv("SEMSEARCH_MODE", "dense")
    monkeypatch.setenv("SEMSEARCH_DEFAULT_K", "5")
    client = create_app({"TESTING": True, "SEARCH_SERVICE": news}).test_client()
    page = html.fromstring(client.get("/").data)
    assert page.cssselect("select[name=mode] option[selected]")[0].get("value") == "dense"
    assert page.cssselect("input[name=k]")[0].get("value") == "5"


def test_eval_reports_bad_files_in_one_line(tmp_path: Path, runner) -> None:
    (tmp_path / "q.jsonl").write_text("{broken\n", encoding="utf-8")
    (tmp_path / "r.tsv").write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")
    write_jsonl(tmp_path / "c.jsonl", [{"_id": "d", "text": "some text"}])
    build_index([tmp_path / "c.jsonl"], tmp_path / "idx", HashingEmbedder(dimension=256))
    result = run_eval(runner, tmp_path / "idx", tmp_path / "q.jsonl", tmp_path / "r.tsv")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot read the queries or qrels" in result.output


def test_representation_study_ranks_as_the_service_does(tmp_path: Path) -> None:
    """scripts/representation_study.py re-ranks full score matrices by hand; its baseline
    must score exactly what the service's own lists score, or its variants mean nothing."""
    import importlib.util

    path = Path(__file__).parents[2] / "scripts" / "representation_study.py"
    spec = importlib.util.spec_from_file_location("representation_study", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import random

    rng = random.Random(4)
    topics = ["tidal power", "rye bread", "tram strike", "harbour silt", "school meals", "bee"]
    records, mentions = [], {}
    for i in range(24):
        mix = rng.sample(topics, 3)
        sentences = [
            f"Line {n} of note {i} is about {rng.choice(mix)} and more."
            # A word in few passages (a keyword list shorter than the depth) of many articles.
            + (" It was corrected." if rng.random() < 0.04 else "")
            for n in range(rng.randint(15, 60))
        ]
        mentions[f"a{i}"] = {t for t in topics if any(t in line for line in sentences)}
        title = f"Note {i} on {mix[0]}"  # titles share words with the queries too
        if i % 4 == 0:  # both top-100 lists in a few articles: the service looks deeper
            title += ", revised"
        records.append({"id": f"a{i}", "title": title, "text": " ".join(sentences)})
    corpus = write_jsonl(tmp_path / "corpus.jsonl", records)
    embedder = HashingEmbedder(dimension=256)
    build_index([corpus], tmp_path / "idx", embedder)
    # The study emulates passage-level ranking: article-level evidence off.
    service = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0, "article_weight": 0.0})
    # Every pair of topics is a query; judged at random among the articles that mention
    # either, so that any change in the order of the top 10 changes nDCG.
    pairs = [(a, b) for a in topics for b in topics if a < b]
    queries = {f"q{n}": f"{a} {b}, {a}" for n, (a, b) in enumerate(pairs)}  # a word twice
    qrels = {
        f"q{n}": {doc: rng.randint(0, 2) for doc, seen in mentions.items() if seen & {a, b}}
        for n, (a, b) in enumerate(pairs)
    }
    queries["rare"] = "corrected"
    qrels["rare"] = {f"a{i}": rng.randint(0, 2) for i in range(24)}
    queries["few"] = "revised note"  # every passage scores (few ties at the cut)
    qrels["few"] = {f"a{i}": rng.randint(0, 2) for i in range(24)}
    # k=10: lists 100 deep (the candidates setting), fewer than the passages.
    results = module.study(service, queries, qrels, k=10)
    baseline = next(value for name, value in results.items() if name.startswith("baseline"))
    assert service.chunk_count > 100 + len(records)  # several passages an article
    assert baseline[1] == pytest.approx(results["service"][1])
    assert 0.2 < baseline[1] < 0.9, "the fixture should not be trivially ranked"
    assert len(results) == 13  # the service, the baseline and eleven variants
    assert all(0.0 <= hybrid <= 1.0 for _, hybrid in results.values())


def test_a_judged_copy_is_credited_to_the_article_indexed_for_it() -> None:
    from semsearch.search.evaluate import credited_to_kept

    owners = {"copy": "kept", "copy2": "kept"}
    assert credited_to_kept({"copy": 1, "other": 2}, owners) == {"kept": 1, "other": 2}
    assert credited_to_kept({"copy": 1, "kept": 2, "copy2": 3}, owners) == {"kept": 3}
    assert credited_to_kept({"a": 1}, {}) == {"a": 1}
