"""Articles in several languages: stored, shown, filtered, counted, and searched each in its
own language; bad language input answered, never failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsearch.errors import BadQueryError
from semsearch.index.build.builder import build_index
from semsearch.search.query import validate_query
from semsearch.search.service import SearchService
from semsearch.web import create_app

#: Written for these tests: a German, a Chinese, an English and a Thai article, one whose
#: page declares English over German text, and one mixing Russian and English.
ARTICLES = [
    {
        "id": "bruecke",
        "title": "Die neue Brücke",
        "language": "de",
        "text": "Der Stadtrat beschloss am Montag, die alten Brücken über den Fluss zu "
        "erneuern. Die Bauarbeiten sollen im Frühjahr beginnen und zwei Jahre dauern.",
    },
    {
        "id": "beijing",
        "title": "北京的地铁",
        "text": "北京地铁是中国首都的城市轨道交通系统。第一条线路于一九六九年开通，"
        "如今每天运送一千多万名乘客。",
    },
    {
        "id": "tides",
        "title": "Harbour tides",
        "text": "The harbour tides rose two metres on Friday, and the ferries to the islands "
        "were held in port until the evening while the wind kept blowing.",
    },
    {
        "id": "bangkok",
        "title": "รถไฟฟ้ากรุงเทพ",
        "text": "รถไฟฟ้าในกรุงเทพมหานครเปิดให้บริการครั้งแรกในปีพุทธศักราชสองพันห้าร้อยสี่สิบสอง "
        "และปัจจุบันมีผู้โดยสารหลายแสนคนต่อวัน",
    },
    {
        "id": "mislabelled",
        "title": "Der Fährbetrieb",
        "language": "en",
        "text": "Die Fähren zwischen den Inseln fuhren wegen des Sturms am Wochenende nicht. "
        "Die Reederei kündigte an, den Betrieb am Dienstag wieder aufzunehmen, sobald der "
        "Wind nachlässt und die Wellen niedriger werden.",
    },
    {
        "id": "mixed",
        "title": "Moscow metro / Московское метро",
        "text": "The Moscow metro opened in 1935. Московский метрополитен открылся в 1935 "
        "году и сегодня перевозит миллионы пассажиров каждый день.",
    },
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, fake_embedder) -> SearchService:
    folder = tmp_path_factory.mktemp("languages")
    source = folder / "articles.jsonl"
    source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES) + "\n")
    build_index([source], folder / "index", fake_embedder)
    # min_score 0: the fake embedder's vectors mean nothing; these tests are about words.
    return SearchService(folder / "index", fake_embedder, {"min_score": 0.0})


def _keyword_ids(service: SearchService, q: str, **params: str) -> list[str]:
    result = service.search(validate_query({"q": q, "mode": "keyword", **params}))
    return [hit.article.id for hit in result.hits]


def test_each_article_has_its_language(service: SearchService) -> None:
    languages = {a["id"]: service.article(a["id"]).article.language for a in ARTICLES}
    assert languages == {
        "bruecke": "de",
        "beijing": "zh",
        "tides": "en",
        "bangkok": "th",
        "mislabelled": "de",  # declared en, surely German
        "mixed": "ru",  # most of its words are Russian
    }


def test_german_words_find_german_stems(service: SearchService) -> None:
    # "Brücke" (query) and "Brücken" (article) share the German stem.
    assert _keyword_ids(service, "Brücke Fluss")[0] == "bruecke"
    assert service.search("Brücke Fluss erneuern", mode="keyword").language == "de"


def test_chinese_query_finds_chinese_bigrams(service: SearchService) -> None:
    assert _keyword_ids(service, "首都地铁") == ["beijing"]
    hit = service.search("首都地铁", mode="keyword").hits[0]
    marked = [hit.passage.text[a:b] for a, b in hit.passage.highlights]
    assert "首都" in marked and "地铁" in marked


def test_thai_query_finds_thai_words(service: SearchService) -> None:
    assert _keyword_ids(service, "รถไฟฟ้ากรุงเทพ") == ["bangkok"]


def test_mixed_article_is_found_in_both_languages(service: SearchService) -> None:
    assert "mixed" in _keyword_ids(service, "Moscow metro opened", lang="en")
    assert "mixed" in _keyword_ids(service, "Московский метрополитен")


def test_language_filter_and_facet(service: SearchService) -> None:
    asked = {"q": "Fähren Sturm Brücken", "language": "de", "facets": "language"}
    found = service.search(validate_query(asked))
    assert {hit.article.language for hit in found.hits} == {"de"}
    # The facet is counted without its own filter (as every facet): the other languages too.
    assert found.facets["language"]["de"] == 2 and len(found.facets["language"]) > 1
    assert service.search(validate_query({"q": "Fähren", "language": "DE-at"})).filters == {
        "language": "de"
    }  # type: ignore[arg-type]


def test_lang_forces_the_query_language(service: SearchService) -> None:
    # As English, "Brücken" is "brucken"; the article's German stem is "bruck".
    assert _keyword_ids(service, "Brücken", lang="en") == []
    assert _keyword_ids(service, "Brücken", lang="de")[0] == "bruecke"


def test_unknown_lang_is_a_400_with_a_message(service: SearchService) -> None:
    with pytest.raises(BadQueryError, match="lang must be a language tag"):
        service.search(validate_query({"q": "tides", "lang": "klingon"}))
    with pytest.raises(BadQueryError, match="language must be a language tag"):
        service.search(validate_query({"q": "tides", "language": "xx"}))
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    response = client.get("/api/search?q=tides&lang=qq")
    assert response.status_code == 400
    assert "lang must be a language tag" in response.get_json()["error"]


def test_a_script_no_article_has_gets_an_answer(service: SearchService) -> None:
    result = service.search("ἀρχαία ελληνικά γράμματα")  # Greek: no article has it
    assert result.language == "el" and isinstance(result.hits, list)
    assert _keyword_ids(service, "ქართული ენა") == []  # Georgian: no stemmer, no article


def test_hits_show_the_language_in_json(service: SearchService) -> None:
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    query = "The harbour tides rose two metres and the ferries were held in port"
    body = client.get("/api/search", query_string={"q": query, "mode": "keyword"}).get_json()
    assert body["results"][0]["article"]["language"] == "en"
    assert body["query_language"] == "en"
    assert client.get("/api/articles/beijing").get_json()["article"]["language"] == "zh"


#: English articles, and the README's quick start article (read alone, Finnish at 0.53).
ENGLISH = [
    ARTICLES[2],
    {
        "id": "bees",
        "title": "Rooftop beekeepers",
        "text": "Beekeepers on the library roof harvested forty jars of honey, which the "
        "volunteers will sell at the winter market.",
    },
]
QUOKKA = {
    "id": "quokka",
    "title": "Quokka census",
    "text": "Rangers counted four thousand quokkas.",
}


def test_a_short_article_in_an_english_collection_is_english(tmp_path: Path, fake_embedder) -> None:
    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join(json.dumps(a) for a in [*ENGLISH, QUOKKA]) + "\n")
    build_index([source], tmp_path / "index", fake_embedder)
    service = SearchService(tmp_path / "index", fake_embedder, {"min_score": 0.0})
    assert service.article("quokka").article.language == "en"
    assert _keyword_ids(service, "quokkas") == ["quokka"]
    assert _keyword_ids(service, "quokka census") == ["quokka"]


def test_an_index_before_languages_reads_as_english(tmp_path: Path, fake_embedder) -> None:
    """A store without the language column (format 5) is served: no language, English words."""
    import shutil
    import sqlite3

    from semsearch.index.storage.manifest import MANIFEST_NAME, STORE_NAME, file_digest

    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps(ARTICLES[2]) + "\n")
    build_index([source], tmp_path / "idx", fake_embedder)
    version = (tmp_path / "idx").resolve()
    old = tmp_path / "old.sqlite"
    shutil.copy(version / STORE_NAME, old)
    with sqlite3.connect(old) as db:
        db.execute("ALTER TABLE articles DROP COLUMN language")
    db.close()
    shutil.copy(old, version / STORE_NAME)
    stats = version / "keyword" / "stats.json"
    stats.write_text(json.dumps({"mean_words": json.loads(stats.read_text())["mean_words"]}))
    manifest = json.loads((version / MANIFEST_NAME).read_text())
    manifest["format_version"] = 5
    for name in (STORE_NAME, "keyword/stats.json"):
        manifest["files"][name] = file_digest(version / name)
    (version / MANIFEST_NAME).write_text(json.dumps(manifest))
    old_service = SearchService(tmp_path / "idx", fake_embedder, {"min_score": 0.0})
    result = old_service.search("harbour tides", mode="keyword")
    assert result.hits[0].article.language is None and result.language == "en"
    # A German query is still analysed as English there: the index's words are English.
    assert old_service.search("Die Brücke", mode="keyword").language == "en"


def test_fusion_falls_back_to_dense_when_the_query_words_are_not_in_the_collection() -> None:
    from semsearch.search.fusion import Fusion, for_coverage

    even = Fusion("linear", 0.5)
    assert for_coverage(even, 1.0) == even and for_coverage(even, 0.5) == even
    assert for_coverage(even, 0.0).dense_weight == 1.0  # no query word anywhere: dense alone
    # a quarter of the words known: keyword weight 0.5 * 0.25 = 0.125 beside dense 0.5
    assert for_coverage(even, 0.25).dense_weight == pytest.approx(0.5 / 0.625)


def test_coverage_is_the_share_of_query_words_the_passages_hold(service: SearchService) -> None:
    from semsearch.search.backends.directory import directory_backend

    keyword = directory_backend(service.backend).keyword
    assert keyword.coverage("Brücken Fluss", "de") == 1.0
    assert keyword.coverage("bridges river Fluss", "de") == pytest.approx(1 / 3)
    assert keyword.coverage("the and", "en") == 1.0  # stop words only: nothing to weigh


def test_titles_and_passages_carry_their_language_and_dir_auto(service: SearchService) -> None:
    from html.parser import HTMLParser

    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    page = client.get("/", query_string={"q": "北京地铁 首都", "mode": "keyword"}).get_data(True)

    class Marked(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[tuple[str, str | None, str | None]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            named = dict(attrs)
            if named.get("class") in ("title", "passage"):
                self.found.append((tag, named.get("lang"), named.get("dir")))

    parser = Marked()
    parser.feed(page)
    assert ("h2", "zh", "auto") in parser.found and ("blockquote", "zh", "auto") in parser.found
    article = client.get("/articles/beijing").get_data(True)
    assert '<h1 class="title" lang="zh" dir="auto">' in article
