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
