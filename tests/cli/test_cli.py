"""The semsearch CLI through click's runner (fake embedder: fast)."""

from __future__ import annotations

import json
from pathlib import Path

from semsearch.cli import cli
from tests.conftest import DEMO_ARTICLES


def test_build_then_query(runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": ""}\n', encoding="utf-8")
    out = tmp_path / "idx"
    result = runner.invoke(
        cli,
        [
            "build",
            str(DEMO_ARTICLES),
            str(bad),
            "--out",
            str(out),
            "--model",
            "hashing-256",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "articles read: 10" in result.output
    assert "skipped: 1" in result.output and f"{bad}:1: empty text" in result.output
    assert "chunks/s:" in result.output

    result = runner.invoke(
        cli,
        [
            "query",
            "--index",
            str(out),
            "--model",
            "hashing-256",
            "--json",
            "-k",
            "2",
            "rye starter bakery",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] and len(body["results"]) == 2
    assert body["results"][0]["article"]["id"] == "08_century_old_rye_starter"

    result = runner.invoke(
        cli, ["query", "--index", str(out), "--model", "hashing-256", "rye starter bakery"]
    )
    assert result.exit_code == 0 and "Copyright © Rosa Inglehart" in result.output


def test_query_errors_are_one_line(runner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["query", "--index", str(tmp_path / "none"), "--model", "hashing-256", "anything"]
    )
    assert result.exit_code == 1
    assert "Error: no index at" in result.output and "Traceback" not in result.output


def test_bad_column_map(runner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        [
            "build",
            str(DEMO_ARTICLES),
            "--out",
            str(tmp_path / "i"),
            "--model",
            "hashing-256",
            "--csv-map",
            "oops",
        ],
    )
    assert result.exit_code == 2 and "expected FIELD=COLUMN" in result.output


def test_settings_doc_documents_every_setting() -> None:
    from semsearch.settings import SETTINGS
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in doc or f"`{s.env}`" not in doc]
    assert not missing, f"settings missing from docs/settings.md's tables: {missing}"


def test_show_prints_the_article_with_its_citations(runner, demo_index: Path) -> None:
    article_id = "08_century_old_rye_starter"
    result = runner.invoke(
        cli, ["show", "--index", str(demo_index), "--model", "hashing-256", article_id]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "A Century-Old Rye Starter Returns to the Ovens of Oskaloo"
    assert lines[1] == "Rosa Inglehart · Prairie Signal · 2024-01-19"
    assert "Copyright: Copyright © Rosa Inglehart, Prairie Signal, 2024" in lines
    assert "theme: Food and Culture, Rural Heritage" in lines
    assert "  APA: Inglehart, R. (2024, January 19). A Century-Old Rye Starter Returns to the " \
        "Ovens of Oskaloo. Prairie Signal." in lines  # fmt: skip
    assert any(line.startswith("  Chicago: Inglehart, Rosa. “A Century-Old") for line in lines)
    assert "None" not in result.output
    assert "a sourdough rye starter that the Vandermolen family" in result.output
    missing = runner.invoke(
        cli, ["show", "--index", str(demo_index), "--model", "hashing-256", "nope"]
    )
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert "Error: no article with id 'nope'" in missing.output


def test_info_prints_what_the_index_holds(runner, demo_index: Path) -> None:
    result = runner.invoke(cli, ["info", "--index", str(demo_index)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "model:    hashing-256 (revision 1), dimension 256" in out
    assert "counts:   10 articles, " in out and " chunks" in out
    assert "dates:    2016-08-26 to 2025-05-12" in out
    publications = out.split("by publication:\n")[1].split("\n\n")[0].splitlines()
    assert publications[0].split() == ["3", "Harbor", "Ledger"]
    assert sum(int(line.split()[0]) for line in publications) == 10
    years = out.split("by year:\n")[1].splitlines()
    assert [line.split()[1] for line in years] == [str(y) for y in range(2016, 2026)]
    assert "(format " in out and "version:" in out
    gone = runner.invoke(cli, ["info", "--index", "/nonexistent/index"])
    assert gone.exit_code == 1 and "Error:" in gone.output and "Traceback" not in gone.output


def test_build_advises_the_multilingual_model_for_a_mostly_german_collection(
    runner, tmp_path: Path, monkeypatch
) -> None:
    import semsearch.index.embed as embed
    from semsearch.settings import DEFAULT_MODEL
    from tests.search.test_languages import ARTICLES
    from tests.support.fake_embedder import HashingEmbedder

    def default_model(name: str) -> HashingEmbedder:
        fake = HashingEmbedder(256)
        fake.name = DEFAULT_MODEL  # the fake in the default model's place: no model loaded
        return fake

    monkeypatch.setitem(embed._FACTORIES, DEFAULT_MODEL, default_model)
    source = tmp_path / "articles.jsonl"
    german = [a for a in ARTICLES if a["id"] in ("bruecke", "mislabelled", "tides")]
    source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in german) + "\n")
    for model, advised in ((DEFAULT_MODEL, True), ("hashing-256", False)):
        out = tmp_path / model.replace(":", "-")
        args = ["build", str(source), "--out", str(out), "--model", model, "--quiet"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "languages: de 2, en 1" in result.output
        said = "67% of the articles are not English (most: de)" in result.output
        assert said == advised, result.output
