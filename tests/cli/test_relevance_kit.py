"""The relevance kit: the collection maker (scripts/eval/make_collections.py) and the table
(scripts/relevance_table.py). The maker's run over ../shared is slow (the real tokenizer);
the rest is plain functions."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, SHARED, need_shared


def load_script(relative: str) -> ModuleType:
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


maker = load_script("scripts/eval/make_collections.py")
table = load_script("scripts/relevance_table.py")


def words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def test_paragraph_runs_are_middle_paragraphs_of_80_to_250_words() -> None:
    paragraphs = [words(90, "a"), words(100, "b"), words(30, "c"), words(60, "d"), words(9, "e")]
    # Single paragraphs: only b (a is first, e is last, c and d are short).
    assert maker.paragraph_runs(paragraphs, single=True) == [(1, 2)]
    # Runs: from b alone; c + d reach 90 words; d + e would take the last paragraph.
    assert maker.paragraph_runs(paragraphs, single=False) == [(1, 2), (2, 4)]


def test_cut_paragraphs_is_seeded_and_skips_text_found_elsewhere() -> None:
    def article(n: int) -> dict[str, str]:
        body = [words(20, f"x{n}_"), words(120, f"p{n}_"), words(90, f"q{n}_"), "End."]
        return {"id": f"a{n}", "title": f"T{n}", "text": "\n\n".join(body)}

    records = [article(n) for n in range(6)]
    # a0's long paragraphs are syndicated in another article: a0 is not cut.
    records.append({"id": "copy", "title": "C", "text": records[0]["text"]})
    everything = "\n".join(maker.normalised(r["text"]) for r in records)
    ids = [r["id"] for r in records[:6]]

    def cuts(seed: int) -> list[tuple[str, str]]:
        found = maker.cut_paragraphs(records, ids, random.Random(seed), 3, True, everything)
        return [(c.article_id, c.query) for c in found]

    assert cuts(1) == cuts(1)
    found = maker.cut_paragraphs(records, ids, random.Random(1), 10, True, everything)
    assert sorted(c.article_id for c in found) == ["a1", "a2", "a3", "a4", "a5"]
    for cut in found:
        # The longest middle paragraph, gone from what is indexed.
        assert cut.query.startswith("p") and cut.query.split()[0] not in cut.rest
        assert cut.rest.startswith("x") and cut.rest.endswith("End.")


def test_the_maker_refuses_to_write_into_the_project(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="inside the project"):
        maker.make(["news"], maker.Shared(SHARED), ROOT / "collections-here")
    with pytest.raises(SystemExit, match="unknown collections"):
        maker.make(["nope"], maker.Shared(SHARED), tmp_path)


def test_the_table_says_what_the_probes_picked_and_whether_the_target_is_met() -> None:
    tuned = {
        "method": "linear",
        "dense_weight": 0.5,
        "probes": 200,
        "best_probe_setting": "linear:0.4",
        "best_gain_over_default": 0.0082,
        "best_gain_standard_error": 0.0067,
        "grid": {},
    }
    assert table.probes_picked(tuned, []) == (
        "linear 0.5 (default kept: best linear:0.4 only +0.0082 ± 0.0067, 200 probes)"
    )
    said = ["hybrid fusion: defaults (too few articles with several passages to tune)"]
    assert (
        table.probes_picked(None, said)
        == "defaults (too few articles with several passages to tune)"
    )
    # A reason the tuner gives in words is shown too, whatever its name.
    assert table.probes_picked({**tuned, "fallback": "dense-safe"}, []).endswith(
        "; fallback: dense-safe"
    )
    told = {**tuned, "reason": "probes prefer linear:0.4, within noise", "probe_kind": "mixed"}
    assert table.probes_picked(told, []) == (
        "linear 0.5 (200 mixed probes): probes prefer linear:0.4, within noise"
    )
    met = {"target": {"over_single": True, "over_rrf": True}}
    assert table.target_cell(met) == "**yes**"
    missed = {
        "target": {"over_single": False, "over_rrf": False},
        "hybrid_minus_better_single": {"single": "dense", "gain": 0.004},
        "hybrid_minus_whole_article_rrf": {"gain": -0.02},
    }
    assert table.target_cell(missed) == "no (+0.0040 over dense; -0.0200 vs RRF)"
    # A cached index is surely from the measuring code only at one commit with no changes.
    clean = {"commit": "abc", "changed": []}
    assert table.same_code(clean, dict(clean))
    assert not table.same_code(None, clean)
    assert not table.same_code(clean, {"commit": "abd", "changed": []})
    assert not table.same_code(clean, {"commit": "abc", "changed": ["search/service.py"]})
    gain, error = table.paired([1.0, 0.5, 0.0], [0.5, 0.5, 0.5])
    assert gain == pytest.approx(0.0) and error == pytest.approx(0.2887, abs=1e-4)


@pytest.mark.slow
def test_the_maker_writes_judged_collections_from_a_slice_of_shared(tmp_path: Path) -> None:
    """Every collection on the first 40 articles of each dataset: the inputs exist, every
    judged article is in the corpus, one-passage corpora are one passage each by the build's
    own chunker, paragraph queries are gone from their articles."""
    need_shared(SHARED / "datasets" / "scifact")
    need_shared(SHARED / "datasets" / "fakenewscorpus-sample")
    made = maker.make(maker.COLLECTIONS, maker.Shared(SHARED), tmp_path / "c", limit=40)
    assert set(made) == set(maker.COLLECTIONS)
    cutter = maker.Cutter(None)
    for name, described in made.items():
        assert json.loads((tmp_path / "c" / name / "collection.json").read_text()) == described
        corpus: dict[str, dict] = {}
        for path in map(Path, described["inputs"]):
            assert path.exists()
            if path.suffix == ".jsonl":
                corpus.update({str(r.get("id", r.get("_id"))): r for r in maker.read_jsonl(path)})
            else:  # the seed folder
                corpus.update({p.stem: {} for p in path.iterdir()})
        queries = maker.read_jsonl(Path(described["queries"]))
        qrels = maker.read_qrels(Path(described["qrels"]))
        assert queries and set(qrels) == {q["_id"] for q in queries}, name
        assert all(doc in corpus for docs in qrels.values() for doc in docs), name
        if name.endswith("-one"):
            assert all(cutter.passages(r["text"]) == 1 for r in corpus.values()), name
        if name.startswith("paragraphs"):
            for query in queries:
                (article,) = qrels[query["_id"]]
                assert 80 <= len(query["text"].split()) <= 250
                assert query["text"] not in corpus[article]["text"]
    # Seeded: made again, the paragraph sets are the same.
    again = maker.make(["paragraphs"], maker.Shared(SHARED), tmp_path / "d", limit=40)
    first = Path(made["paragraphs"]["queries"]).read_text()
    assert Path(again["paragraphs"]["queries"]).read_text() == first
