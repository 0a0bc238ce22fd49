"""`semsearch alias` and `serve --index NAME=DIR`: aliases written to the file a server
reads, the indexes `serve` is given read as one index or named collections."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from semsearch.cli import _served_indexes, cli


def test_alias_set_writes_the_folder_file(runner, tmp_path: Path) -> None:
    (tmp_path / "news-v1").mkdir()
    (tmp_path / "news-v2").mkdir()
    args = ["alias", "set", "news", "news-v1", "--indexes", str(tmp_path)]
    assert runner.invoke(cli, args).output == "news -> news-v1\n"
    args[3] = "news-v2"
    assert runner.invoke(cli, args).exit_code == 0
    stored = json.loads((tmp_path / "aliases.json").read_text())
    assert stored == {"aliases": {"news": "news-v2"}}
    listed = runner.invoke(cli, ["alias", "list", "--indexes", str(tmp_path)])
    assert listed.output == "news -> news-v2\n"


def test_alias_set_refuses_a_missing_target_and_a_bad_name(runner, tmp_path: Path) -> None:
    missing = runner.invoke(cli, ["alias", "set", "news", "nope", "--indexes", str(tmp_path)])
    assert missing.exit_code == 1
    assert f"no index 'nope' in {tmp_path}" in missing.output
    (tmp_path / "ok").mkdir()
    bad = runner.invoke(cli, ["alias", "set", "a/b", "ok", "--indexes", str(tmp_path)])
    assert bad.exit_code == 1
    assert "invalid alias name 'a/b'" in bad.output
    assert not (tmp_path / "aliases.json").exists()


@pytest.mark.parametrize(
    ("given", "folder", "expected"),
    [
        (("idx",), None, ("idx", {})),
        (("news=a", "science=b"), None, (None, {"news": "a", "science": "b"})),
        (
            ("milvus://127.0.0.1:19530?collection=x",),
            None,
            ("milvus://127.0.0.1:19530?collection=x", {}),
        ),
        ((), "folder", (None, {})),
    ],
)
def test_serve_reads_one_index_or_named_ones(given, folder, expected) -> None:
    assert _served_indexes(given, folder) == expected


@pytest.mark.parametrize(
    ("given", "folder"),
    [(("a", "b"), None), (("a", "n=b"), None), ((), None), (("n=a", "n=b"), None)],
)
def test_serve_refuses_unnamed_indexes_among_several(given, folder) -> None:
    with pytest.raises(click.UsageError):
        _served_indexes(given, folder)
