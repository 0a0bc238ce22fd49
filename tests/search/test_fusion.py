"""Fusion of the dense and keyword lists, and its build-time tuning per collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.embed.model_languages import EVERY_LANGUAGE, ModelLanguages
from semsearch.search.fusion import Fusion, Scale, fuse, per_query_fusion
from semsearch.search.service import SearchService
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder


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


def test_bounded_fusion_by_hand() -> None:
    """Cosines from the no-match threshold (0.2) to 1, BM25 from 0 to the query's bound (20);
    a passage the dense list did not reach gets its last cosine."""
    dense = [(1, 0.6), (2, 0.5), (3, 0.45), (5, 0.3)]
    keyword = [(3, 2.0), (4, 1.0)]
    scores = dict(fuse(dense, keyword, Fusion("bounded", 0.5), Scale(floor=0.2, bound=20.0)))
    assert scores[1] == pytest.approx(0.5 * 0.4 / 0.8)
    assert scores[3] == pytest.approx(0.5 * 0.25 / 0.8 + 0.5 * 2 / 20)
    assert scores[4] == pytest.approx(0.5 * 0.1 / 0.8 + 0.5 * 1 / 20)
    # Min-max stretches the weak keyword list's best to 1: passage 3 would win.
    assert fuse(dense, keyword, Fusion("linear", 0.5))[0][0] == 3
    assert fuse(dense, keyword, Fusion("bounded", 0.5), Scale(0.2, 20.0))[0][0] == 1
    # The same keyword list holding most of what the query can score wins.
    strong = [(3, 16.0), (4, 2.0)]
    assert fuse(dense, strong, Fusion("bounded", 0.5), Scale(0.2, 20.0))[0][0] == 3
    # Without a scale (a long query, an engine's BM25) it is linear.
    assert fuse(dense, keyword, Fusion("bounded", 0.5)) == fuse(
        dense, keyword, Fusion("linear", 0.5)
    )
    assert fuse(dense, keyword, Fusion("bounded", 0.5), Scale(0.2, 0.0)) == fuse(
        dense, keyword, Fusion("linear", 0.5)
    )


def test_bounded_fusion_does_not_depend_on_how_deep_the_lists_are() -> None:
    """Min-max spans move with the depth of the lists, and so does linear fusion's order;
    bounded scores of passages both lists reach do not."""
    import random

    rng = random.Random(7)
    dense = sorted(((i, rng.uniform(0.1, 0.7)) for i in range(400)), key=lambda h: -h[1])
    keyword = sorted(((i, rng.uniform(0.5, 9.0)) for i in range(0, 400, 2)), key=lambda h: -h[1])
    scale = Scale(0.25, 20.0)

    def top(fusion: Fusion, depth: int) -> list[int]:
        fused = fuse(dense[:depth], keyword[:depth], fusion, scale)
        both = {c for c, _ in dense[:50]} & {c for c, _ in keyword[:50]}
        return [c for c, _ in fused if c in both][:10]

    assert top(Fusion("bounded", 0.6), 50) == top(Fusion("bounded", 0.6), 400)
    assert top(Fusion("linear", 0.6), 50) != top(Fusion("linear", 0.6), 400)


def test_bounded_fusion_is_for_questions_the_model_reads(demo_service, monkeypatch) -> None:
    """A question gets its scale (the calibrated no-match threshold, its BM25 bound); a
    pasted passage (over 32 words), a query in a language the model does not read, an index
    without a calibrated threshold and a backend without a bound get none: linear fusion."""
    from dataclasses import replace

    from semsearch.search.query import validate_query

    ranker = demo_service.ranker
    fusion = Fusion("bounded", 0.6)
    question = validate_query({"q": "who repaired the harbour wall"})
    pasted = validate_query({"q": " ".join(["harbour wall repairs"] * 11)})  # 33 words
    keyword = [(1, 2.0)]
    assert ranker._scale(question, fusion, keyword) is None  # the fake model reads nothing
    monkeypatch.setattr(ranker, "model_languages", ModelLanguages(frozenset({"en"})))
    scale = ranker._scale(question, fusion, keyword)
    assert ranker.settings.cosine_floor == ranker.settings.min_score  # the fixture chose it
    assert scale == Scale(ranker.settings.min_score, ranker.backend.score_bound(question.text))
    assert scale.bound > 0
    assert ranker._scale(pasted, fusion, keyword) is None
    assert ranker._scale(question, Fusion("linear", 0.6), keyword) is None
    assert ranker._scale(question, fusion, []) is None
    # An index without a calibrated threshold: where the model's cosines start is unknown.
    monkeypatch.setattr(ranker, "settings", replace(ranker.settings, cosine_floor=None))
    assert ranker._scale(question, fusion, keyword) is None
    monkeypatch.setattr(ranker, "settings", replace(ranker.settings, cosine_floor=0.3))
    assert ranker._scale(question, fusion, keyword) == Scale(0.3, scale.bound)
    monkeypatch.setattr(ranker.backend, "score_bound", lambda *args: None)
    assert ranker._scale(question, fusion, keyword) is None


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
    # Probes may raise the dense weight from the default (0.6), never lower it.
    assert fusion["dense_weight"] >= 0.6
    allowed = {name: mrr for name, mrr in fusion["grid"].items() if float(name[-3:]) >= 0.6}
    grid_best = max(allowed.values())
    if fusion["best_probe_setting"] == f"{fusion['method']}:{fusion['dense_weight']}":
        assert fusion["probe_mrr_10"] == grid_best
    else:  # the default was kept: the best setting's gain was within the noise
        assert (fusion["method"], fusion["dense_weight"]) == ("bounded", 0.6)
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


def test_environment_fusion_setting_beats_the_tuned_one(news: SearchService, monkeypatch) -> None:
    from dataclasses import replace

    from semsearch.search.ranking import RankingSettings

    # Read once, when an index is loaded: what the build tuned, unless the environment says.
    manifest = replace(news.manifest, fusion={"method": "linear", "dense_weight": 0.2})
    tuned = RankingSettings.load(manifest, {}).fusion
    assert (tuned.method, tuned.dense_weight) == ("linear", 0.2)
    monkeypatch.setenv("SEMSEARCH_DENSE_WEIGHT", "0.7")
    chosen = RankingSettings.load(manifest, {}).fusion
    assert (chosen.method, chosen.dense_weight) == ("linear", 0.7)


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
    # The study redoes linear fusion only.
    settings = {"min_score": 0.0, "article_weight": 0.0, "fusion": "linear"}
    service = SearchService(tmp_path / "idx", embedder, settings)
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


def test_full_coverage_keeps_the_collections_fusion() -> None:
    assert per_query_fusion(Fusion("linear", 0.6), 1.0) == Fusion("linear", 0.6)


def test_partial_coverage_moves_weight_to_dense() -> None:
    # sqrt(0.25) = 0.5: keyword 0.4 * 0.5 = 0.2; dense 0.6 / (0.6 + 0.2) = 0.75
    assert per_query_fusion(Fusion("linear", 0.6), 0.25).dense_weight == pytest.approx(0.75)
    # rrf keeps its method and constant: sqrt(0.0625) = 0.25, keyword 0.125, dense 0.5 / 0.625
    assert per_query_fusion(Fusion("rrf", 0.5, 30), 0.0625) == Fusion("rrf", 0.8, 30)


def test_no_coverage_is_dense_alone_and_keyword_alone_stays() -> None:
    assert per_query_fusion(Fusion("linear", 0.6), 0.0).dense_weight == 1.0
    assert per_query_fusion(Fusion("linear", 0.0), 0.3).dense_weight == 0.0
    assert per_query_fusion(Fusion("linear", 0.0), 0.0).dense_weight == 1.0


def test_probes_may_raise_the_dense_weight_but_not_lower_it() -> None:
    """Probes that find keyword-heavy fusion far better (as on the news set, where they chose
    rrf 0.1 and the real questions scored 0.766 against the default's 0.868) keep the
    default; a clear gain at a higher dense weight is taken."""
    from semsearch.search.tuning import choose_fusion

    default = Fusion("linear", 0.6)
    lower, higher = Fusion("rrf", 0.1), Fusion("linear", 0.8)
    probes = 40
    keyword_heavy = {
        default: [0.5] * probes,
        lower: [1.0] * probes,  # every probe far better: far beyond the noise
        higher: [0.5] * (probes - 1) + [0.25],
    }
    choice = choose_fusion(keyword_heavy, default)
    assert choice.overall == lower
    assert choice.chosen == default and choice.best == default

    dense_heavy = {default: [0.5] * probes, lower: [0.5] * probes, higher: [1.0] * probes}
    choice = choose_fusion(dense_heavy, default)
    assert choice.chosen == higher == choice.best == choice.overall


def test_per_query_fusion_is_for_questions_not_pasted_passages(demo_service, monkeypatch) -> None:
    """When on, for a query of at most 64 words; a pasted passage (more words) keeps the
    collection's fusion, whatever the keyword list's coverage. Off by default."""
    from dataclasses import replace

    from semsearch.search.query import validate_query

    ranker = demo_service.ranker
    assert not ranker.settings.per_query_fusion
    monkeypatch.setattr(ranker, "settings", replace(ranker.settings, per_query_fusion=True))
    monkeypatch.setattr(ranker, "model_languages", ModelLanguages(frozenset({"en"})))
    monkeypatch.setattr(ranker.backend, "idf_coverage", lambda *args: 0.25)
    collection = ranker.settings.fusion
    question = validate_query({"q": "who repaired the harbour wall"})
    pasted = validate_query({"q": " ".join(["harbour wall repairs"] * 22)})  # 66 words
    assert ranker._query_fusion(question, [(1, 2.0)]) == per_query_fusion(collection, 0.25)
    assert ranker._query_fusion(question, [(1, 2.0)]) != collection
    assert ranker._query_fusion(pasted, [(1, 2.0)]) == collection


def test_per_query_fusion_only_where_the_model_reads_the_language(
    demo_service, monkeypatch
) -> None:
    """Per-query fusion trusts the dense list more; a model that does not read the query's
    language (the fake says nothing; an English model asked in Greek) keeps the collection's
    fusion, as a model that reads it does not."""

    from dataclasses import replace

    from semsearch.search.query import validate_query

    ranker = demo_service.ranker
    assert ranker.backend.languages() == {"en"}  # the demo articles
    assert ranker.model_languages == ModelLanguages()  # the fake embedder says nothing
    monkeypatch.setattr(ranker, "settings", replace(ranker.settings, per_query_fusion=True))
    monkeypatch.setattr(ranker.backend, "idf_coverage", lambda *args: 0.25)
    collection = ranker.settings.fusion
    english = validate_query({"q": "who repaired the harbour wall", "lang": "en"})
    greek = validate_query({"q": "ποιος επισκεύασε το τείχος", "lang": "el"})
    keyword = [(1, 2.0)]
    assert ranker._query_fusion(english, keyword) == collection

    monkeypatch.setattr(ranker, "model_languages", ModelLanguages(frozenset({"en"})))
    assert ranker._query_fusion(english, keyword) == per_query_fusion(collection, 0.25)
    assert ranker._query_fusion(greek, keyword) == collection  # an English model, in Greek

    # A few articles in other languages: the collection's main language is what counts.
    monkeypatch.setattr(ranker.backend, "languages", lambda: frozenset({"en", "id", "zh"}))
    assert ranker._query_fusion(english, keyword) == per_query_fusion(collection, 0.25)

    monkeypatch.setattr(ranker, "model_languages", ModelLanguages(frozenset({"el"})))
    assert ranker._query_fusion(greek, keyword) == collection  # reads Greek, not the passages


def test_a_query_in_another_script_than_every_passage_is_dense_alone(
    demo_service, monkeypatch
) -> None:
    """A Greek question over English passages, with a model that reads both: the keyword
    list can match only names and numbers, so it gets no weight (per-query fusion on or off);
    with a model that reads only English, the collection's fusion stands."""
    from dataclasses import replace

    from semsearch.search.query import validate_query

    ranker = demo_service.ranker
    collection = ranker.settings.fusion
    greek = validate_query({"q": "ποιος επισκεύασε το τείχος του λιμανιού", "lang": "el"})
    english = validate_query({"q": "who repaired the harbour wall", "lang": "en"})
    keyword = [(1, 2.0)]
    monkeypatch.setattr(ranker, "model_languages", EVERY_LANGUAGE)
    assert ranker._query_fusion(greek, keyword) == Fusion(collection.method, 1.0, collection.rrf_k)
    assert ranker._query_fusion(greek, []) == collection  # nothing to weigh
    monkeypatch.setattr(ranker, "model_languages", ModelLanguages(frozenset({"en"})))
    assert ranker._query_fusion(greek, keyword) == collection
    assert not ranker.settings.per_query_fusion
    assert ranker._query_fusion(english, keyword) == collection
    monkeypatch.setattr(ranker, "model_languages", EVERY_LANGUAGE)
    monkeypatch.setattr(ranker, "settings", replace(ranker.settings, per_query_fusion=True))
    assert ranker._query_fusion(greek, keyword) == Fusion(collection.method, 1.0, collection.rrf_k)
    monkeypatch.setattr(ranker.backend, "idf_coverage", lambda *args: 0.25)
    assert ranker._query_fusion(english, keyword) == per_query_fusion(collection, 0.25)


def test_a_query_in_another_language_is_not_refused_on_the_threshold(
    demo_service, monkeypatch
) -> None:
    """The no-match threshold is calibrated on questions against the collection's own
    sentences; across languages the model's cosines do not tell answerable questions from
    off-topic ones, so a Greek question (another script) or a German one (surely German)
    over English passages, with a model that reads both, is answered whatever its best
    cosine. With a model that reads only English, and for an English question, the
    threshold still refuses."""
    from dataclasses import replace

    from semsearch.search.query import validate_query

    ranker = demo_service.ranker
    monkeypatch.setattr(ranker, "settings", replace(ranker.settings, min_score=0.999))
    # The languages the service detects before it ranks.
    greek = validate_query({"q": "ποιος επισκεύασε το τείχος του λιμανιού", "lang": "el"})
    english = validate_query({"q": "who repaired the harbour wall", "lang": "en"})

    def retrieve(query):
        vector = demo_service.embedder.encode_query(query.text)
        return ranker.retrieve(query, vector, None, 100)

    # As the service reads it: in the collection's language, whose script it shares.
    german = validate_query(
        {"q": "Wer hat die Mauer am Hafen im letzten Winter repariert und warum?", "lang": "en"}
    )
    monkeypatch.setattr(ranker, "model_languages", EVERY_LANGUAGE)
    answered = retrieve(greek)
    assert answered.refusal is None and answered.ranked
    assert answered.closest is not None and answered.closest < 0.999
    assert retrieve(german).refusal is None
    assert retrieve(english).refusal is not None
    monkeypatch.setattr(ranker, "model_languages", ModelLanguages(frozenset({"en"})))
    assert retrieve(greek).refusal is not None
    assert retrieve(german).refusal is not None


def test_where_the_cosine_scale_starts() -> None:
    """Bounded fusion's cosine floor: the calibrated threshold, one you chose, or the
    built-in 0.25 with the default model it was calibrated for (a live index starts empty,
    uncalibrated); none for another uncalibrated model. A manifest whose probes kept the
    default follows this code's default fusion."""
    from types import SimpleNamespace

    from semsearch.search.ranking import RankingSettings
    from semsearch.settings import DEFAULT_MODEL

    def manifest(model: str, no_match=None, fusion=None):
        return SimpleNamespace(model={"name": model}, no_match=no_match, fusion=fusion, chunker={})

    kept = {"method": "linear", "dense_weight": 0.6, "chosen_by": "default"}
    calibrated = RankingSettings.load(manifest("other", {"min_score": 0.31}, kept), {})
    assert calibrated.cosine_floor == calibrated.min_score == 0.31
    assert calibrated.fusion.method == "bounded"  # the probes kept the default: today's
    assert RankingSettings.load(manifest("other"), {"min_score": 0.7}).cosine_floor == 0.7
    assert RankingSettings.load(manifest(DEFAULT_MODEL), {}).cosine_floor == 0.25
    assert RankingSettings.load(manifest("other"), {}).cosine_floor is None
    tuned = {"method": "linear", "dense_weight": 0.7, "chosen_by": "probes"}
    assert RankingSettings.load(manifest("other", None, tuned), {}).fusion == Fusion("linear", 0.7)
