"""The public Python API (`semsearch.open`, docs/python.md): the documented example runs,
its answers are the HTTP API's JSON, and its names are the ones exported."""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path

import pytest

import semsearch
from semsearch.api import Index
from semsearch.search.query import SEARCH_PARAMS
from semsearch.search.service import SearchService
from tests.conftest import DEMO_ARTICLES, ROOT

DOC = ROOT / "docs" / "python.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_documented_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 1
    (tmp_path / "scripts" / "demo").mkdir(parents=True)
    (tmp_path / "scripts" / "demo" / "articles").symlink_to(DEMO_ARTICLES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEMSEARCH_MODEL", "hashing-256")  # the fake, registered by conftest
    exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "docs_python"})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("hashing-256 ")
    assert printed[0].endswith("{'articles': 10, 'chunks': 198}")
    assert "Greyhaven Sound Tidal Array" in printed[1]
    assert "[('note-1', 'created')]" in printed


@pytest.fixture()
def index(demo_service: SearchService) -> Index:
    return Index(demo_service)  # not closed: the session's service


def without_time(answer: dict) -> dict:
    took = answer.pop("took_ms")
    assert isinstance(took, float)
    return answer


def test_to_dict_is_the_api_json(index: Index, client) -> None:
    params = {"q": "tidal power", "k": 3, "group": "article", "facets": "publication,year"}
    api = client.get("/api/search", query_string=params).get_json()
    mine = index.search("tidal power", k=3, group="article", facets=["publication", "year"])
    assert without_time(mine.to_dict()) == without_time(api)
    assert len(api["results"]) == 3
    assert isinstance(mine, semsearch.SearchResults)


def test_article_and_similar_to_dict_are_the_api_json(index: Index, client) -> None:
    article_id = "09_greyhaven_tidal_array"
    api = client.get(f"/api/articles/{article_id}").get_json()
    assert index.article(article_id).to_dict() == api
    similar = client.get(f"/api/articles/{article_id}/similar?k=2").get_json()
    assert without_time(index.similar(article_id, 2).to_dict()) == without_time(similar)
    cite = client.get(f"/api/articles/{article_id}/cite?format=bibtex").get_data(as_text=True)
    assert index.citation(article_id, "bibtex") == cite


def test_bad_options_are_the_api_errors(index: Index) -> None:
    with pytest.raises(semsearch.BadQueryError, match="k"):
        index.search("tides", k=0)
    with pytest.raises(semsearch.NotFoundError):
        index.article("no-such-article")


def test_search_takes_every_option_of_the_http_api() -> None:
    names = set(inspect.signature(Index.search).parameters) - {"self"}
    # format=csv is the server's download format, not a search option (docs/python.md).
    assert names == set(SEARCH_PARAMS) - {"format"}


def test_the_exported_names_resolve() -> None:
    for name in semsearch.__all__:
        assert getattr(semsearch, name) is not None
    with pytest.raises(AttributeError):
        semsearch.SearchService  # noqa: B018  # private: not exported


def test_deprecated_warns() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        semsearch.deprecated("old_name", "new_name", removed_in="0.3")
    assert [w.category for w in caught] == [DeprecationWarning]
    assert "semsearch.old_name is deprecated and will be removed in 0.3" in str(caught[0].message)
