"""`semsearch keys create|list|revoke`, and `add`/`delete` refusing a bad target."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from semsearch.cli import cli
from semsearch.web.keys import KeyStore


def test_create_list_revoke(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    created = runner.invoke(
        cli, ["keys", "create", "night scraper", "--scope", "write", "--file", str(path)]
    )
    assert created.exit_code == 0, created.output
    first_line, key = created.stdout.splitlines()[:2]
    key_id = first_line.split()[2]
    assert first_line == f"created key {key_id} (night scraper; write)"
    assert key.startswith(f"ssk_{key_id}_") and len(key) == len("ssk_") + 8 + 1 + 43
    assert key.encode() not in path.read_bytes()
    assert KeyStore(path).check(key) is not None

    listed = runner.invoke(cli, ["keys", "list", "--file", str(path)])
    assert listed.exit_code == 0 and key_id in listed.output and "active" in listed.output
    assert key not in listed.output

    revoked = runner.invoke(cli, ["keys", "revoke", key_id, "--file", str(path)])
    assert revoked.exit_code == 0 and f"revoked key {key_id}" in revoked.output
    assert KeyStore(path).check(key) is None
    listed = runner.invoke(cli, ["keys", "list", "--file", str(path)])
    assert "revoked" in listed.output

    missing = runner.invoke(cli, ["keys", "revoke", "00000000", "--file", str(path)])
    assert missing.exit_code == 1 and "no key '00000000'" in missing.output


def test_keys_file_from_the_environment(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    result = runner.invoke(
        cli,
        ["keys", "create", "ops", "--scope", "admin"],
        env={"SEMSEARCH_API_KEYS_FILE": str(path)},
    )
    assert result.exit_code == 0, result.output
    assert [k.scopes for k in KeyStore(path).list()] == [frozenset({"admin"})]


def test_keys_need_a_file_and_a_known_scope(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["keys", "create", "x", "--scope", "write"], env={"SEMSEARCH_API_KEYS_FILE": None}
    )
    assert result.exit_code == 2 and "SEMSEARCH_API_KEYS_FILE" in result.output
    path = str(tmp_path / "keys.sqlite")
    result = runner.invoke(cli, ["keys", "create", "x", "--scope", "root", "--file", path])
    assert result.exit_code == 2 and "root" in result.output


def test_add_needs_one_target_and_a_key_for_a_server(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text('{"id": "a", "text": "text"}\n', encoding="utf-8")
    neither = runner.invoke(cli, ["add", str(source)])
    assert neither.exit_code == 2 and "--index DIR or --server URL" in neither.output
    both = runner.invoke(
        cli, ["add", str(source), "--index", "x", "--server", "http://127.0.0.1:9"]
    )
    assert both.exit_code == 2
    keyless = runner.invoke(
        cli, ["delete", "a", "--server", "http://127.0.0.1:9"], env={"SEMSEARCH_API_KEY": None}
    )
    assert keyless.exit_code == 2 and "--server needs --key" in keyless.output
    unreachable = runner.invoke(
        cli, ["delete", "a", "--server", "http://127.0.0.1:9", "--key", "k"]
    )
    assert unreachable.exit_code == 1 and "cannot reach http://127.0.0.1:9" in unreachable.output
