"""The settings registry: one declaration per setting, typed parsing, precedence, the docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from semsearch.search.service import SearchService
from semsearch.settings import (
    GROUPS,
    SETTINGS,
    check_settings,
    config_settings,
    explicit_setting,
    find_setting,
    get_setting,
    render_settings_markdown,
)
from semsearch.web import APP_SETTINGS, create_app
from tests.conftest import ROOT

DOC = ROOT / "docs" / "settings.md"


def test_docs_are_what_the_registry_renders() -> None:
    assert DOC.read_text(encoding="utf-8") == render_settings_markdown(), (
        "docs/settings.md is stale: run scripts/settings_doc.py"
    )


def test_settings_doc_script_checks_and_writes(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "settings_doc.py"
    out = tmp_path / "settings.md"
    check = [sys.executable, str(script), "--check", "--out", str(out)]
    assert subprocess.run(check, capture_output=True).returncode == 1  # missing
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True)
    assert out.read_text(encoding="utf-8") == render_settings_markdown()
    assert subprocess.run(check, capture_output=True).returncode == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    stale = subprocess.run(check, capture_output=True, text=True)
    assert stale.returncode == 1 and "stale" in stale.stderr


def test_every_setting_is_declared_once_with_a_group_and_help() -> None:
    names = [setting.name for setting in SETTINGS]
    assert len(names) == len(set(names))
    for setting in SETTINGS:
        assert setting.group in GROUPS, setting.name
        assert setting.help.endswith("."), setting.name
        assert setting.env == f"SEMSEARCH_{setting.name.upper()}"
        # The default is a value of the setting's own type.
        if setting.default is not None:
            assert setting.parse(setting.default) == setting.default, setting.name
    server = {s.name for s in SETTINGS if s.group == "server"}
    assert {"index_dir", "admin_key", "cors_origins", "rate_limit", "trusted_proxies"} <= server
    assert {"reload_interval", "max_content_length", "warm_up"} <= server


def test_help_holds_no_measurements() -> None:
    # Measurements belong in docs/benchmarks.md, with command, machine and date.
    for setting in SETTINGS:
        assert "measured" not in setting.help, setting.name


def test_precedence_default_then_environment_then_override(monkeypatch) -> None:
    assert get_setting("chunk_tokens") == 200
    assert explicit_setting("chunk_tokens") is None
    monkeypatch.setenv("SEMSEARCH_CHUNK_TOKENS", " 150 ")
    assert get_setting("chunk_tokens") == 150
    assert explicit_setting("chunk_tokens") == 150
    assert get_setting("chunk_tokens", {"chunk_tokens": 120}) == 120
    assert get_setting("chunk_tokens", {"chunk_tokens": None}) == 150  # None: not chosen
    with pytest.raises(KeyError, match="unknown setting 'chunk_size'"):
        get_setting("chunk_size")


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("min_score", "0.3", 0.3),
        ("dense_weight", "1", 1.0),
        ("warm_up", "false", False),
        ("warm_up", "0", False),
        ("warm_up", "Yes", True),
        ("trusted_proxies", "2", 2),
        ("cors_origins", " https://a.example , http://localhost:3000,", None),
        ("rate_limit", "10/second;300/hour", "10/second;300/hour"),
        ("rate_limit", "", None),
        ("admin_key", "0", "0"),
        ("admin_key", "[1]", "[1]"),
        ("mode", "dense", "dense"),
    ],
)
def test_environment_values_are_parsed_by_type(monkeypatch, name, raw, expected) -> None:
    monkeypatch.setenv(f"SEMSEARCH_{name.upper()}", raw)
    if name == "cors_origins":
        expected = frozenset({"https://a.example", "http://localhost:3000"})
    value = get_setting(name)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("max_k", "lots", "SEMSEARCH_MAX_K must be an integer, got 'lots'"),
        ("max_k", "2.5", "SEMSEARCH_MAX_K must be an integer, got '2.5'"),
        ("min_score", "high", "SEMSEARCH_MIN_SCORE must be a number, got 'high'"),
        ("warm_up", "maybe", "SEMSEARCH_WARM_UP must be true or false"),
        ("trusted_proxies", "-1", "SEMSEARCH_TRUSTED_PROXIES: '-1' is not a count"),
        ("cors_origins", "https://a.example/", "SEMSEARCH_CORS_ORIGINS: 'https://a.example/' is"),
        ("rate_limit", "sixty a minute", "SEMSEARCH_RATE_LIMIT: 'sixty a minute' is not a rate"),
    ],
)
def test_a_bad_environment_value_names_the_variable(monkeypatch, name, raw, message) -> None:
    monkeypatch.setenv(f"SEMSEARCH_{name.upper()}", raw)
    with pytest.raises(ValueError) as failure:
        get_setting(name)
    assert str(failure.value).startswith(message)
    with pytest.raises(ValueError, match=f"SEMSEARCH_{name.upper()}"):
        check_settings()


def test_overrides_are_checked_by_type_too() -> None:
    assert get_setting("min_score", {"min_score": 1}) == 1.0
    with pytest.raises(ValueError, match="max_k must be an integer, got True"):
        get_setting("max_k", {"max_k": True})
    with pytest.raises(ValueError, match="min_score must be a number"):
        get_setting("min_score", {"min_score": "high"})
    with pytest.raises(ValueError, match=r"unknown setting 'min_scor'; known: model, "):
        check_settings({"min_scor": 0.3})


def test_config_settings_take_upper_case_keys_and_name_them_in_errors(monkeypatch) -> None:
    monkeypatch.setenv("SEMSEARCH_RATE_LIMIT", "5/minute")
    config = config_settings(("rate_limit", "trusted_proxies", "reload_interval"), {})
    assert config == {"RATE_LIMIT": "5/minute", "TRUSTED_PROXIES": 0, "RELOAD_INTERVAL": 2.0}
    given = {"RATE_LIMIT": "1/second", "TRUSTED_PROXIES": "1", "RELOAD_INTERVAL": 0}
    assert config_settings(("rate_limit", "trusted_proxies", "reload_interval"), given) == {
        "RATE_LIMIT": "1/second",
        "TRUSTED_PROXIES": 1,
        "RELOAD_INTERVAL": 0.0,
    }
    with pytest.raises(ValueError, match=r"^TRUSTED_PROXIES: True is not a count"):
        config_settings(("trusted_proxies",), {"TRUSTED_PROXIES": True})


def test_the_app_config_comes_from_the_registry(demo_service: SearchService, monkeypatch) -> None:
    monkeypatch.setenv("SEMSEARCH_RELOAD_INTERVAL", "0")
    monkeypatch.setenv("SEMSEARCH_MAX_CONTENT_LENGTH", "1024")
    monkeypatch.setenv("SEMSEARCH_CORS_ORIGINS", "https://a.example")
    app = create_app({"SEARCH_SERVICE": demo_service, "TRUSTED_PROXIES": 1, "TESTING": True})
    for name in APP_SETTINGS:
        assert name.upper() in app.config, name
    assert app.config["RELOAD_INTERVAL"] == 0.0
    assert app.config["MAX_CONTENT_LENGTH"] == 1024
    assert app.config["CORS_ORIGINS"] == frozenset({"https://a.example"})
    assert app.config["TRUSTED_PROXIES"] == 1
    assert app.config["WARM_UP"] is True and app.config["TESTING"] is True
    assert app.config["MODEL"] == find_setting("model").default
    # The body limit Flask enforces is the registry's.
    big = app.test_client().post("/api/search", json={"q": "x" * 2000})
    assert big.status_code == 413


def test_the_app_refuses_bad_settings_at_start(demo_service: SearchService, monkeypatch) -> None:
    with pytest.raises(ValueError, match="unknown setting 'min_scor'"):
        create_app({"SEARCH_SERVICE": demo_service, "SETTINGS": {"min_scor": 0.3}})
    with pytest.raises(ValueError, match="ADMIN_KEY must be text, got 12345"):
        create_app({"SEARCH_SERVICE": demo_service, "ADMIN_KEY": 12345})
    monkeypatch.setenv("SEMSEARCH_MIN_SCORE", "high")
    with pytest.raises(ValueError, match="SEMSEARCH_MIN_SCORE must be a number"):
        create_app({"SEARCH_SERVICE": demo_service})
