"""The word index a build writes (`words/`): listed in the manifest, mapped at load, written
again by updates; phrases, exclusions and title scopes read from it give the scan's answers
(`semsearch.search.constraints`); an index built before it scans; a phrase's work is bounded
by its rarest word, and a phrase of words too common to look up is refused (400)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from semsearch.errors import BadQueryError, SearchTimeoutError
from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.ingest.articles import Article
from semsearch.index.storage.manifest import MANIFEST_NAME, read_manifest
from semsearch.index.storage.store import ServedStore, StoreWriter
from semsearch.index.storage.word_index import WordIndex, _Field, open_word_index, write_word_index
from semsearch.index.text.chunking import Chunk
from semsearch.search import constraints
from semsearch.search.budget import Deadline
from semsearch.search.constraints import matching, restriction_of
from semsearch.search.service import SearchService
from semsearch.search.syntax import parse_query
from tests.conftest import FAKE_MIN_SCORE
from tests.support import corpus
from tests.support.fake_embedder import HashingEmbedder

FAKE = {"min_score": FAKE_MIN_SCORE}

#: Stop words, apostrophes straight and curly, case, light stems (bade/bad, bridges),
#: Chinese, Japanese, Thai, German, and titles that say other things than their texts.
RECORDS = [
    {
        "id": "harbour",
        "title": "The Harbour Master's report",
        "text": "The harbour's dredging went bad. She bade them leave the harbour; "
        "the HARBOUR MASTER'S boat stayed. Bad news travels.",
    },
    {
        "id": "people",
        "title": "Of the people",
        "text": "Government of the people, by the people, for the people. The the people.",
    },
    {
        "id": "festival",
        "title": "It’s the festival’s last day",
        "text": "It’s the festival’s last day. Its end is near; it's the festival's close.",
    },
    {
        "id": "bridges",
        "title": "Bridges",
        "text": "BRIDGES and Bridge and bridged, a bridging loan. Baded bades.",
    },
    {"id": "tokyo", "title": "東京大学の研究", "text": "东京大学的研究 and 東京 tower. 京都も。"},
    {"id": "thai", "title": "ภาษาไทย", "text": "ภาษาไทยง่ายมาก สวัสดีครับ"},
    {
        "id": "haus",
        "title": "Häuser am Rathaus",
        "text": "Die Häuser am Rathaus. Das Haus ist alt.",
        "language": "de",
    },
    {"id": "plain", "title": "Night trains", "text": "Night trains run late; a night train."},
]
PHRASES = [
    "the harbour",
    "harbour's dredging",
    "harbours",
    "Harbour Master's",
    "bad",
    "bade",
    "BADE THEM",
    "went bade",
    "bad news",
    "of the people",
    "the people",
    "by the",
    "the the",
    "the the people",
    "people the",
    "it's the festival's",
    "it’s",
    "its",
    "its end",
    "festival’s last day",
    "bridge",
    "bridges and bridge",
    "bridging loan",
    "a",
    "e",
    "东京大学",
    "京",
    "大学的研",
    "東京 tower",
    "京都",
    "研究",
    "ภาษาไทย",
    "ไทย",
    "häuser",
    "haus",
    "Rathaus",
    "night train",
    "trains run",
    "nothing here",
    "zzz",
]
LANGUAGES = [None, "en", "de", "", "zh", "th"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> SearchService:
    folder = tmp_path_factory.mktemp("words")
    source = corpus.write_jsonl(folder / "a.jsonl", RECORDS)
    embedder = HashingEmbedder(dimension=64, max_seq_tokens=16)  # several passages an article
    build_index([source], folder / "idx", embedder)
    return SearchService(folder / "idx", embedder, FAKE)


def test_the_build_lists_the_word_index_and_loading_maps_it(built: SearchService) -> None:
    listed = sorted(n for n in built.backend.manifest.files if n.startswith("words/"))
    assert listed == sorted(
        f"words/{field}.{name}"
        for field in ("text", "title")
        for name in (
            "keys.bin",
            "keys.offsets.npy",
            "passages.npy",
            "passages.offsets.npy",
            "positions.npy",
            "positions.offsets.npy",
        )
    )
    assert built.words is not None
    assert built.backend.manifest.counts["chunks"] > len(RECORDS)  # articles of several


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("column", ["text", "title"])
def test_the_word_index_gives_the_scans_answers(
    built: SearchService, column: str, language: str | None
) -> None:
    store = built.backend.store
    for phrase in PHRASES:
        scanned = matching(store, column, phrase, language)
        indexed = matching(store, column, phrase, language, words=built.words)
        assert indexed == scanned, (phrase, column, language)


def test_hand_counted_answers(built: SearchService) -> None:
    """The equality above is not of two empty sets: what a reader would count."""
    store, words = built.backend.store, built.words

    def articles(phrase: str, column: str = "text", language: str | None = None) -> list[str]:
        ids = matching(store, column, phrase, language, words=words)
        return sorted({c.article["id"] for c in store.fetch_chunks(ids).values()})

    assert articles("bade") == ["bridges", "harbour"]  # bad, bade, Baded, bades
    assert articles("went bade") == ["harbour"]  # "went bad": one stem
    assert articles("the the people") == ["people"]
    assert articles("people the") == ["people"]  # "people. The the": punctuation ignored
    assert articles("people the", "title") == []
    assert articles("it's the festival's") == ["festival"]  # curly in the text, straight here
    assert articles("its end") == ["festival"]
    assert articles("大学的研") == ["tokyo"] and articles("京") == ["tokyo"]
    assert articles("东京大学", "title") == []  # the title is 東京 (Japanese), not 东京
    assert articles("ไทย") == ["thai"]
    assert articles("report", "title") == ["harbour"]
    assert articles("haus", language="de") == ["haus"]  # scanned: German has a stemmer


def test_a_language_with_a_snowball_stemmer_is_scanned(built: SearchService) -> None:
    assert built.words is not None
    assert built.words.look_up("text", ["Häuser"], "de") is None
    assert built.words.look_up("text", ["Häuser"], "") is not None  # no stemmer: the word


@pytest.mark.parametrize(
    "query",
    [
        '"the people" -bridges',
        "harbour -bad",
        'harbour -"bade them"',
        "-it's festival",
        'title:"the festival’s" last',
        "-title:bridges bridge",
        "title:東京 研究",
        '"东京大学" OR "ไทย"',
        "night -東京",
        '"of the people" title:people -harbour',
    ],
)
@pytest.mark.parametrize("language", [None, "de"])
def test_restrictions_are_the_scans(built: SearchService, query: str, language: str | None) -> None:
    store, parsed = built.backend.store, parse_query(query)
    assert restriction_of(store, parsed, language, words=built.words) == restriction_of(
        store, parsed, language
    )


def test_an_update_writes_the_index_of_its_version(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    out = tmp_path / "idx"
    build_index([corpus.write_jsonl(tmp_path / "a.jsonl", RECORDS[:2])], out, fake_embedder)
    more = corpus.write_jsonl(tmp_path / "b.jsonl", [{"id": "n", "title": "T", "text": "Zebra."}])
    update_index(out, fake_embedder, add=[more])
    service = SearchService(out, fake_embedder, FAKE)
    assert service.words is not None
    assert [h.article.id for h in service.search('"zebra"', 5).hits] == ["n"]


def test_an_index_built_before_it_scans(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    out = tmp_path / "idx"
    build_index([corpus.write_jsonl(tmp_path / "a.jsonl", RECORDS)], out, fake_embedder)
    with_words = SearchService(out, fake_embedder, FAKE)
    version = out.resolve()
    shutil.rmtree(version / "words")
    manifest = json.loads((version / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["files"] = {k: v for k, v in manifest["files"].items() if "words/" not in k}
    (version / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    assert not any(n.startswith("words/") for n in read_manifest(out).files)
    before = SearchService(out, fake_embedder, FAKE)
    assert before.words is None
    for query in ('"the people"', "people -bad", "title:bridges bridge", '"京都"', "bridges"):
        found = [h.passage.chunk_id for h in before.search(query, 10).hits]
        assert found == [h.passage.chunk_id for h in with_words.search(query, 10).hits]
        assert found, query


def test_a_plain_question_never_reads_the_word_index(
    built: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The word index serves the operators only: a question without one ranks as before."""
    assert built.words is not None

    def refused(*args: object) -> None:
        raise AssertionError("a plain question read the word index")

    monkeypatch.setattr(built.words, "look_up", refused)
    monkeypatch.setattr(built.words, "segment_candidates", refused)
    assert built.search("the harbour master's boat", 5).hits
    assert built.search("东京大学", 5).hits


# --- work ---------------------------------------------------------------------------------


def _store(path: Path, texts: list[str]) -> ServedStore:
    writer = StoreWriter(path / "store.sqlite")
    for i, text in enumerate(texts):
        writer.add(Article(id=f"a{i}", title="t", text=text), [Chunk(0, 0, len(text), text, 9)])
    writer.close()
    write_word_index(path / "store.sqlite", path / "words")
    return ServedStore(path / "store.sqlite")


COMMON = "of the people and of the land"


@pytest.fixture(scope="module")
def common(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedStore, WordIndex]:
    """3,000 passages of very common words, one of them with a rare one."""
    folder = tmp_path_factory.mktemp("common")
    store = _store(folder, [COMMON] * 1_500 + [f"{COMMON} zebra of the"] + [COMMON] * 1_499)
    words = open_word_index(folder / "words")
    assert words is not None
    return store, words


def _counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Passages looked up in a word's list, and positions read, from here on."""
    work = {"looked up": 0, "positions": 0}
    entries, occurrences = _Field.entries, _Field.occurrences

    def counted_entries(self: _Field, key: int, chunk_ids):  # type: ignore[no-untyped-def]
        work["looked up"] += len(chunk_ids)
        return entries(self, key, chunk_ids)

    def counted_occurrences(self: _Field, key: int, chunk_ids):  # type: ignore[no-untyped-def]
        found = occurrences(self, key, chunk_ids)
        work["positions"] += len(found)
        return found

    monkeypatch.setattr(_Field, "entries", counted_entries)
    monkeypatch.setattr(_Field, "occurrences", counted_occurrences)
    return work


def test_a_phrase_reads_only_where_its_rarest_word_is(
    common: tuple[ServedStore, WordIndex], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, words = common
    work = _counted(monkeypatch)
    found = matching(store, "text", "the land zebra of the", "en", words=words)
    assert found == frozenset({1_501})
    # One passage holds "zebra": it alone is looked up in the lists of the four distinct
    # words ("the" twice in the phrase, once here), and only its positions are read: of
    # and the 3 times each, land and zebra once.
    assert work == {"looked up": 4, "positions": 8}


def test_a_phrase_of_very_common_words_is_refused_before_reading(
    common: tuple[ServedStore, WordIndex], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, words = common
    work = _counted(monkeypatch)
    # 3,000 passages hold each word: 3 distinct words, 9,000 passages to look up (2 distinct
    # in "of the of": 6,000).
    of_the_of = words.look_up("text", ["of", "the", "of"], "en")
    assert of_the_of is not None and words.phrase_work("text", of_the_of) == 6_000
    monkeypatch.setattr(constraints, "MAX_PHRASE_WORK", 8_999)
    with pytest.raises(BadQueryError, match="too common") as refused:
        matching(store, "text", "of the people", "en", words=words)
    assert refused.value.status == 400
    assert work == {"looked up": 0, "positions": 0}
    # Within the limit it is answered: each word looked up in the 3,000 passages.
    monkeypatch.setattr(constraints, "MAX_PHRASE_WORK", 9_000)
    assert len(matching(store, "text", "of the people", "en", words=words)) == 3_000
    assert work["looked up"] == 3 * 3_000
    # The same word many times is one word's work: 32 "the" look "the" up once.
    assert words.phrase_work("text", words.look_up("text", ["the"] * 32, "en") or []) == 3_000


def test_a_single_word_costs_its_passages(common: tuple[ServedStore, WordIndex]) -> None:
    store, words = common
    assert words.phrase_work("text", words.look_up("text", ["the"], "en") or []) == 0
    assert len(matching(store, "text", "zebra", "en", words=words)) == 1


def test_the_deadline_is_looked_at_between_words(common: tuple[ServedStore, WordIndex]) -> None:
    store, words = common
    with pytest.raises(SearchTimeoutError):
        matching(store, "text", "of the", "en", Deadline(budget_ms=1, at=0.0), words)
