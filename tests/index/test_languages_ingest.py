"""The rest of the path in other languages: footers, dates, and the page's language."""

from __future__ import annotations

from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.boilerplate import footer_shape, strip_footer_shapes
from semsearch.index.ingest.collection import with_languages
from semsearch.index.ingest.layout import parse_localized_date


def test_rights_reserved_lines_in_other_languages_are_the_copyright() -> None:
    for line in (
        "© 2024 Beispiel Verlag. Alle Rechte vorbehalten.",
        "Exemple SA. Tous droits réservés.",
        "Ejemplo S.L. Todos los derechos reservados.",
        "版权所有 示例出版社",
    ):
        article = Article(id="a", title="", text=f"Der Text des Artikels.\n\n{line}")
        cleaned, removed = strip_footer_shapes(article)
        assert cleaned.text == "Der Text des Artikels." and removed["copyright"] == 1, line
        assert cleaned.copyright == line


def test_footer_shapes_in_other_languages() -> None:
    assert footer_shape("Diesen Artikel teilen") == "share_prompt"
    assert footer_shape("Abonnez-vous à notre newsletter") == "newsletter"
    assert footer_shape("Síguenos en Twitter") == "follow_me"
    assert footer_shape("Die Brücke wurde im Jahr 1890 gebaut.") is None


def test_dates_written_in_the_articles_language() -> None:
    assert parse_localized_date("3. März 2019", "de") == "2019-03-03"
    assert parse_localized_date("5 de mayo de 2020", "es") == "2020-05-05"
    assert parse_localized_date("März 2019", "de") is None  # no day: not a full date
    assert parse_localized_date("3. März 2019", "") is None


def test_an_unread_date_is_read_in_the_articles_language() -> None:
    text = (
        "Der Stadtrat beschloss am Montag, die alten Brücken über den Fluss zu erneuern. "
        "Die Bauarbeiten sollen im Frühjahr beginnen und zwei Jahre dauern."
    )
    article = Article(id="a", title="", text=text, extra={"published_raw": "3. März 2019"})
    (dated,) = with_languages([article])
    assert dated.language == "de" and dated.published == "2019-03-03"


def test_the_build_summary_says_when_a_collection_is_mostly_not_english() -> None:
    from semsearch.index.ingest.collection import IngestSummary, model_advice
    from semsearch.settings import DEFAULT_MODEL

    assert "languages: de 3, en 1" in IngestSummary(languages={"de": 3, "en": 1}).lines()
    advice = model_advice({"de": 3, "en": 1}, DEFAULT_MODEL)
    assert advice is not None
    assert "75% of the articles are not English (most: de)" in advice
    assert "--model packaged:multilingual-e5-small" in advice
    # Mostly not English with no language holding half: 3 of 5 known are not English.
    assert model_advice({"en": 2, "de": 1, "fr": 1, "es": 1, "unknown": 9}, DEFAULT_MODEL)
    # Half English, or unknown only: no advice; nor with a model other than the default.
    assert model_advice({"en": 2, "de": 1, "fr": 1}, DEFAULT_MODEL) is None
    assert model_advice({"unknown": 4}, DEFAULT_MODEL) is None
    assert model_advice({"de": 4}, "packaged:multilingual-e5-small") is None
    assert model_advice({"de": 4}, "/models/my-own-model") is None


def test_a_short_unsure_article_takes_the_collections_main_language() -> None:
    english = [
        Article(id=f"en{i}", title=title, text=text)
        for i, (title, text) in enumerate(
            [
                ("Harbour tides", "The harbour tides rose two metres on Friday afternoon."),
                ("Night trains", "The night train to the coast returns in May after years."),
            ]
        )
    ]
    # "fi" at 0.53 by itself (the README's quick start article)
    quokka = Article(id="q", title="Quokka census", text="Rangers counted four thousand quokkas.")
    greek = Article(id="el", title="Σεισμός στην Κρήτη", text="Ένας μικρός σεισμός.")
    beijing = Article(id="zh", title="北京地铁", text="新线开通")  # "zh" at 0.76: unsure
    german = Article(id="de", title="Neue Brücke", text="Der Stadtrat will die Brücke erneuern.")
    found = with_languages([*english, quokka, greek, beijing, german])
    assert [a.language for a in found] == ["en", "en", "en", "el", "zh", "de"]


def test_the_index_main_language_wins_over_a_batchs_own() -> None:
    """Articles joining an index (an add, a live write): an unsure one takes the index's main
    language, not the majority of its batch."""
    german = Article(
        id="de",
        title="Neue Brücke",
        text="Der Stadtrat beschloss am Montag, die alten Brücken über den Fluss zu erneuern.",
    )
    quokka = Article(id="q", title="Quokka census", text="Rangers counted four thousand quokkas.")
    assert [a.language for a in with_languages([german, quokka], "en")] == ["de", "en"]
    assert [a.language for a in with_languages([german, quokka])] == ["de", "de"]
    assert [a.language for a in with_languages([quokka])] == ["fi"]  # nothing better known


def test_a_store_given_languages_on_upgrade_finds_them_as_a_build_does(tmp_path) -> None:
    """A store older than format 6 gets each article's language when it is next written."""

    from semsearch.index.storage.store import StoreWriter

    articles = [
        Article(
            id="tides",
            title="Harbour tides",
            text="The harbour tides rose two metres on Friday afternoon.",  # "en" at 0.93
        ),
        Article(
            id="rail",
            title="Night trains",
            text="The night train to the coast returns in May after years.",  # "en" at 0.92
        ),
        Article(id="quokka", title="Quokka census", text="Rangers counted four thousand quokkas."),
        Article(id="el", title="Σεισμός στην Κρήτη", text="Ένας μικρός σεισμός."),
    ]
    old = StoreWriter(tmp_path / "old.sqlite")
    for article in articles:
        old.add(article, [])
    old.db.execute("ALTER TABLE articles DROP COLUMN language")
    old.close()
    new = StoreWriter.copy_of(tmp_path / "old.sqlite", tmp_path / "new.sqlite")
    found = dict(new.db.execute("SELECT id, language FROM articles"))
    new.close()
    assert found == {"tides": "en", "rail": "en", "quokka": "en", "el": "el"}
