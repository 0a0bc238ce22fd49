"""Which languages a model reads: its own word, else its model card's front matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.index.embed.model_languages import (
    EVERY_LANGUAGE,
    ModelLanguages,
    card_languages,
    model_languages,
)
from tests.support.fake_embedder import HashingEmbedder


def card(folder: Path, front_matter: str, body: str = "# A model\n\nlanguage: de\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(f"---\n{front_matter}---\n{body}", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("front_matter", "languages"),
    [
        ("language: en\nlicense: apache-2.0\n", {"en"}),  # all-MiniLM-L6-v2's card
        ("license: mit\nlanguage:\n- en\n- de\n- 'fr'\ntags:\n- x\n", {"en", "de", "fr"}),
        ("language: [en, DE]\n", {"en", "de"}),
        ('language:\n  - "eng"\n  - "not a code"\n', {"en"}),
        ("license: mit\ntags:\n- en\n", set()),  # no language field: tags are not languages
    ],
)
def test_card_front_matter_names_the_languages(
    tmp_path: Path, front_matter: str, languages: set[str]
) -> None:
    found = card_languages(card(tmp_path, front_matter))
    assert found == ModelLanguages(frozenset(languages))
    assert not found.every


def test_a_multilingual_card_reads_every_language(tmp_path: Path) -> None:
    found = card_languages(card(tmp_path, "language:\n- multilingual\n- af\n- am\n"))
    assert found == EVERY_LANGUAGE
    assert found.reads("th") and found.reads("el") and found.reads("")


def test_no_card_or_no_front_matter_reads_nothing(tmp_path: Path) -> None:
    assert card_languages(tmp_path) == ModelLanguages()
    (tmp_path / "README.md").write_text("language: en\n", encoding="utf-8")  # not front matter
    assert card_languages(tmp_path) == ModelLanguages()


def test_reads_a_language_it_names_and_not_unknown_text() -> None:
    english = ModelLanguages(frozenset({"en"}))
    assert english.reads("en")
    assert not english.reads("el")
    assert not english.reads("")
    assert not english.reads(None)
    assert english.as_dict() == {"every": False, "languages": ["en"]}


def test_an_embedder_says_so_itself_or_through_its_model_folder(tmp_path: Path) -> None:
    fake = HashingEmbedder()
    assert model_languages(fake) == ModelLanguages()  # says nothing: reads nothing known

    fake.languages = EVERY_LANGUAGE  # type: ignore[attr-defined]
    assert model_languages(fake) == EVERY_LANGUAGE

    folder = card(tmp_path / "model", "language: el\n")
    with_folder = HashingEmbedder()
    with_folder.path = folder  # type: ignore[attr-defined]
    assert model_languages(with_folder) == ModelLanguages(frozenset({"el"}))

    with_folder.languages = ModelLanguages(frozenset({"th"}))  # type: ignore[attr-defined]
    assert model_languages(with_folder).languages == {"th"}  # its own word wins


def test_the_packaged_models_say_what_they_read() -> None:
    """The default model's card says English (no model is loaded: its folder is read); the
    packaged multilingual model says every language."""
    from semsearch.index.embed import resolve_model_path
    from semsearch.index.embed.packaged_e5 import PackagedE5Embedder
    from semsearch.settings import DEFAULT_MODEL

    assert card_languages(resolve_model_path(DEFAULT_MODEL)) == ModelLanguages(frozenset({"en"}))
    assert PackagedE5Embedder.languages == EVERY_LANGUAGE
