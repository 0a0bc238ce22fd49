"""Fixtures of the live-index tests: a small fake embedder and where the live index goes
(a test file that needs another defines its own of the same name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fake_embedder import HashingEmbedder


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dimension=32)


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "live"
