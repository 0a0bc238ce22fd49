"""Web content through the build: HTML folders and WARC archives index and answer, articles
record where they came from, syndicated copies become one article with its copies, the
boilerplate a source repeats is learned and removed, and bad pages cost only themselves."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from semsearch.cli import cli
from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.ingest.warc import warc_article_id
from semsearch.index.storage.manifest import MANIFEST_NAME
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import DATASETS, FAKE_MIN_SCORE, need_shared
from tests.index.test_warc import http_response, warc_record
from tests.support.fake_embedder import HashingEmbedder

TOPICS = {
    "ferry": "The river ferry crossed at dawn with twelve carts of grain, and the ferryman "
    "noted the water level on the post by the landing stage before the fog lifted.",
    "orchard": "The orchard's old pear trees were grafted onto quince roots this spring, "
    "and the growers expect the first small harvest in three summers' time.",
    "tram": "Tram drivers voted to end the strike after the city agreed to shorter split "
    "shifts, and the first cars left the depot on the northern line at six.",
    "bees": "Rooftop beehives on the library produced forty jars of honey, which the "
    "volunteers sold at the Saturday market to pay for new frames and smokers.",
    "choir": "The village choir rehearsed the winter cantata in the cold chapel, wrapped in "
    "coats, while the organist tuned the pipes that the damp had put out of pitch.",
}


def story(topic: str, n: int = 5) -> list[str]:
    """Paragraphs of one made-up story: the topic's sentence, varied, n times."""
    return [f"{TOPICS[topic]} Day {i} of the {topic} report, part {i * 7 + 3}." for i in range(n)]


def page(title: str, paragraphs: list[str], *, site: str = "", footer: str = "") -> bytes:
    """A saved article page: head metadata, navigation, the article, a footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta property="og:site_name" content="{site}">'
        f'<meta property="article:published_time" content="2021-03-04"></head>'
        f'<body><nav><a href="/">Home</a> <a href="/news">News</a></nav>'
        f"<article><h1>{title}</h1>{body}</article>"
        f"<footer><p>{footer}</p></footer></body></html>"
    ).encode()


@pytest.fixture()
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dimension=128, max_seq_tokens=96)


def serve(index: Path, embedder: HashingEmbedder) -> SearchService:
    return SearchService(index, embedder, {"min_score": FAKE_MIN_SCORE})


def test_a_folder_of_html_and_gzipped_pages_builds_and_answers(
    tmp_path: Path, embedder: HashingEmbedder
) -> None:
    pages = tmp_path / "pages"
    (pages / "2021").mkdir(parents=True)
    (pages / "ferry.html").write_bytes(page("Ferry", story("ferry"), site="River News"))
    (pages / "2021" / "orchard.html.gz").write_bytes(
        gzip.compress(page("Orchard", story("orchard"), site="Garden Weekly"))
    )
    (pages / "tram.htm.gz").write_bytes(gzip.compress(page("Tram", story("tram"))))
    (pages / "notes.bin").write_bytes(b"\x00\x01")  # not an input: ignored, not reported
    runner = CliRunner()
    result = runner.invoke(
        cli, ["build", str(pages), "--out", str(tmp_path / "idx"), "--model", "hashing-128"]
    )
    assert result.exit_code == 0, result.output
    assert "articles read: 3" in result.output and "skipped: 0" in result.output
    service = serve(tmp_path / "idx", embedder)
    hit = service.search("grafted pear trees quince roots", 1).hits[0]
    assert hit.article.id == "2021/orchard" and hit.article.publication == "Garden Weekly"
    assert hit.article.published == "2021-03-04"
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    body = client.get("/api/articles/2021/orchard").get_json()["article"]
    assert body["provenance"] == {
        "file": str(pages / "2021" / "orchard.html.gz"),
        "line": None,
        "record_id": None,
        "fetched": None,
    }
    assert "Home" not in body["text"] and TOPICS["orchard"] in body["text"]
    assert {a.id for a in (service.article(i).article for i in ("ferry", "tram"))} == {
        "ferry",
        "tram",
    }


def test_build_help_and_errors_name_the_web_inputs(tmp_path: Path) -> None:
    runner = CliRunner()
    assert ".html" in runner.invoke(cli, ["build", "--help"]).output
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    result = runner.invoke(
        cli, ["build", str(tmp_path / "a.pdf"), "--out", str(tmp_path / "i"), "--model", "x"]
    )
    assert result.exit_code != 0


def write_crawl(path: Path, *, truncated: bool = False) -> None:
    """A WARC of two distinct pages, a redirect, a 404, an image, and optionally a record
    cut short (the last)."""
    http = "application/http; msgtype=response"
    records = [
        warc_record("warcinfo", None, b"software: test\r\n", "application/warc-fields", 0),
        warc_record(
            "response",
            "https://river.example/ferry",
            http_response("200 OK", "text/html; charset=utf-8", page("Ferry", story("ferry"))),
            http,
            1,
        ),
        warc_record(
            "response",
            "https://river.example/old",
            http_response("301 Moved", "text/html", b"", "Location: /ferry\r\n"),
            http,
            2,
        ),
        warc_record(
            "response",
            "https://river.example/gone",
            http_response("404 Not Found", "text/html", page("Gone", story("tram"))),
            http,
            3,
        ),
        warc_record(
            "response",
            "https://river.example/logo.png",
            http_response("200 OK", "image/png", b"\x89PNG\r\n"),
            http,
            4,
        ),
        warc_record(
            "response",
            "https://river.example/bees",
            http_response("200 OK", "text/html", page("Bees", story("bees"))),
            http,
            5,
        ),
    ]
    data = b"".join(gzip.compress(r) for r in records)
    if truncated:
        cut = warc_record(
            "response",
            "https://river.example/choir",
            http_response("200 OK", "text/html", page("Choir", story("choir"))),
            http,
            6,
        )
        data += gzip.compress(cut[: len(cut) // 2])
    path.write_bytes(data)


def test_a_warc_builds_with_ids_from_urls_provenance_and_counts(
    tmp_path: Path, embedder: HashingEmbedder
) -> None:
    crawl = tmp_path / "crawl.warc.gz"
    write_crawl(crawl)
    report = build_index([crawl], tmp_path / "idx", embedder)
    assert report.articles == 2 and not report.skipped
    assert report.ingest is not None
    counts = report.ingest.warc
    assert (counts.records, counts.articles, counts.redirects) == (6, 2, 1)
    assert (counts.error_statuses, counts.not_html, counts.not_responses) == (1, 1, 1)
    assert any(line.startswith("WARC (1 files): 6 records") for line in report.ingest.lines())
    manifest = json.loads((tmp_path / "idx" / MANIFEST_NAME).read_text())
    assert manifest["counts"]["warc_redirects"] == 1 and manifest["counts"]["warc_records"] == 6
    assert manifest["ingest"]["warc"]["error_statuses"] == 1
    service = serve(tmp_path / "idx", embedder)
    found = service.article(warc_article_id("https://river.example/bees"))
    assert found.article.url == "https://river.example/bees"
    assert found.provenance["file"] == str(crawl)
    assert found.provenance["record_id"] == "urn:uuid:00000000-0000-4000-8000-000000000005"
    assert found.provenance["fetched"] == "2024-02-03T04:05:06Z"
    assert "warc" not in found.extra  # kept once, in the provenance


def test_bad_pages_and_a_truncated_record_are_reported_and_the_build_goes_on(
    tmp_path: Path, embedder: HashingEmbedder
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.html").write_bytes(page("Orchard", story("orchard")))
    (inputs / "binary.html").write_bytes(bytes(range(256)) * 40)
    (inputs / "broken.html.gz").write_bytes(gzip.compress(page("Tram", story("tram")))[:60])
    (inputs / "scripts.html").write_bytes(b"<html><body><script>var a = 1;</script></body></html>")
    write_crawl(inputs / "crawl.warc.gz", truncated=True)
    report = build_index([inputs], tmp_path / "idx", embedder)
    assert report.articles == 3  # good.html and the crawl's two pages
    reported = {Path(s.origin.split(":")[0].split("@")[0]).name for s in report.skipped}
    assert {"binary.html", "broken.html.gz", "scripts.html", "crawl.warc.gz"} <= reported
    truncated = [s for s in report.skipped if "crawl.warc.gz" in s.origin]
    assert truncated and all(s.reason for s in truncated)
    assert report.ingest is not None and report.ingest.warc.articles == 2


def syndicated_collection(folder: Path) -> None:
    """A herald story republished by the courier (own header and footer), and others."""
    folder.mkdir()
    paragraphs = story("choir", 8)
    records = [
        {
            "id": "herald-choir",
            "title": "Choir",
            "text": "\n\n".join(paragraphs),
            "publication": "Herald",
            "url": "https://herald.example/choir",
            "published": "2022-01-05",
        },
        {
            "id": "courier-choir",
            "title": "Choir in the cold",
            "text": "\n\n".join(["By our staff, from wire reports.", *paragraphs[:7]])
            + "\n\nRead more from the Courier every morning.",
            "publication": "Courier",
            "url": "https://courier.example/choir",
            "published": "2022-01-06",
        },
        *(
            {
                "id": f"herald-{topic}",
                "title": topic.title(),
                "text": "\n\n".join(story(topic)),
                "publication": "Herald",
                "url": f"https://herald.example/{topic}",
                "published": "2022-01-07",
            }
            for topic in ("ferry", "bees")
        ),
    ]
    (folder / "news.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_find_copies_off_keeps_every_article(tmp_path: Path, embedder: HashingEmbedder) -> None:
    syndicated_collection(tmp_path / "in")
    report = build_index([tmp_path / "in"], tmp_path / "idx", embedder, {"find_copies": False})
    assert report.articles == 4 and report.ingest is not None
    assert report.ingest.copies.copies == 0


def test_a_syndicated_copy_is_one_article_found_under_its_copys_publication(
    tmp_path: Path, embedder: HashingEmbedder
) -> None:
    syndicated_collection(tmp_path / "in")
    report = build_index([tmp_path / "in"], tmp_path / "idx", embedder)
    assert report.articles == 3 and report.ingest is not None
    assert report.ingest.copies.copies == 1
    assert json.loads((tmp_path / "idx" / MANIFEST_NAME).read_text())["counts"]["copies"] == 1
    service = serve(tmp_path / "idx", embedder)
    courier = {"publication": "courier"}
    hits = service.search("choir winter cantata", 3, group="article", filters=courier).hits
    assert [h.article.id for h in hits] == ["herald-choir"]
    assert [(c.publication, c.url) for c in hits[0].article.copies] == [
        ("Courier", "https://courier.example/choir")
    ]
    assert not service.search("choir cantata", 3, filters={"publication": "nobody"}).hits
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    result = client.get("/api/search?q=choir winter cantata&k=1").get_json()["results"][0]
    assert list(result["article"])[-1] == "copies"
    assert result["article"]["copies"] == [
        {
            "publication": "Courier",
            "url": "https://courier.example/choir",
            "published": "2022-01-06",
        }
    ]
    full = client.get("/api/articles/herald-choir").get_json()["article"]
    (copy,) = full["copies"]
    assert copy["id"] == "courier-choir" and copy["origin"].endswith("news.jsonl:2")
    assert 0.5 <= copy["similarity"] <= 1
    assert full["provenance"]["line"] == 1
    html = client.get("/?q=choir winter cantata").get_data(as_text=True)
    line = re.search(r'<p class="also-published">(.*?)</p>', html, re.S)
    assert line and "Also published by" in line.group(1)
    assert '<a href="https://courier.example/choir" rel="noopener noreferrer">Courier</a>' in (
        line.group(1)
    )
    assert "courier-choir" not in [
        h.article.id for h in service.search("choir cantata chapel", 5).hits
    ]


FOOTER = "Subscribe to the Lantern Gazette letter for the week's best stories, free."


def blog_posts(folder: Path, topics: list[str], fmt: str = "csv") -> None:
    folder.mkdir()
    rows = [
        {
            "id": f"lantern-{topic}",
            "title": topic.title(),
            "text": "\n".join([*story(topic, 3), FOOTER]),
            "publication": "Lantern Gazette",
        }
        for topic in topics
    ]
    (folder / "posts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_learned_boilerplate_leaves_every_article_and_is_counted(
    tmp_path: Path, embedder: HashingEmbedder
) -> None:
    blog_posts(tmp_path / "in", ["ferry", "orchard", "tram", "bees"])
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["build", str(tmp_path / "in"), "--out", str(tmp_path / "idx"), "--model", "hashing-128"],
    )
    assert result.exit_code == 0, result.output
    assert "learned boilerplate: 4 blocks removed from 4 articles" in result.output
    assert "lantern gazette: 4 boilerplate blocks removed (1 distinct)" in result.output
    manifest = json.loads((tmp_path / "idx" / MANIFEST_NAME).read_text())
    assert manifest["ingest"]["boilerplate_blocks_removed"] == {"lantern gazette": 4}
    service = serve(tmp_path / "idx", embedder)
    for topic in ("ferry", "orchard", "tram", "bees"):
        assert "Subscribe" not in service.article(f"lantern-{topic}").text
    hits = service.search("subscribe to the gazette letter best stories", 5).hits
    assert all("Subscribe" not in h.passage.text for h in hits)
    # Added later, a post of the same source loses the learned block too.
    more = tmp_path / "more"
    blog_posts(more, ["choir"])
    update_index(tmp_path / "idx", embedder, add=[more])
    assert "Subscribe" not in serve(tmp_path / "idx", embedder).article("lantern-choir").text


def test_an_index_of_format_4_is_served_and_updated(
    tmp_path: Path, embedder: HashingEmbedder
) -> None:
    """Format 4 had no provenance column and no copies table: read as none, and an update
    adds both to its copy."""
    import shutil
    import sqlite3

    from semsearch.index.storage.manifest import STORE_NAME, file_digest

    syndicated_collection(tmp_path / "in")
    out = tmp_path / "idx"
    build_index([tmp_path / "in"], out, embedder)
    version = out.resolve()
    old = tmp_path / "old.sqlite"
    shutil.copy(version / STORE_NAME, old)
    with sqlite3.connect(old) as db:
        db.execute("DROP TABLE copies")
        db.execute("DROP TABLE boilerplate")
        db.execute("ALTER TABLE articles DROP COLUMN provenance")
    db.close()
    shutil.copy(old, version / STORE_NAME)
    manifest = json.loads((version / MANIFEST_NAME).read_text())
    manifest["format_version"] = 4
    manifest["files"][STORE_NAME] = file_digest(version / STORE_NAME)
    (version / MANIFEST_NAME).write_text(json.dumps(manifest))
    service = serve(out, embedder)
    assert service.article("herald-choir").provenance == {}
    assert service.search("choir cantata", 1, filters={"publication": "herald"}).hits
    assert not service.search("choir cantata", 1, filters={"publication": "courier"}).hits
    more = tmp_path / "more"
    blog_posts(more, ["tram"])
    update_index(out, embedder, add=[more])
    assert json.loads((out / MANIFEST_NAME).read_text())["format_version"] == 6
    again = serve(out, embedder)
    assert again.article("lantern-tram").provenance["line"] == 1


BOILERPLATE = re.compile(
    r"fair use|comment policy|click the .?like.? button|follow @|filed under", re.I
)


@pytest.mark.slow
def test_vague_queries_on_the_news_sample_find_no_boilerplate(
    tmp_path: Path, real_embedder: object
) -> None:
    source = need_shared(DATASETS / "fakenewscorpus-sample" / "news_sample.csv")
    build_index([source], tmp_path / "idx", real_embedder)  # type: ignore[arg-type]
    service = SearchService(tmp_path / "idx", real_embedder)  # type: ignore[arg-type]
    for query in (
        "permission to use copyrighted material under fair use",
        "comment policy",
        "click the like button",
        "follow us",
        "filed under",
    ):
        for hit in service.search(query, 10).hits:
            assert not BOILERPLATE.search(hit.passage.text), (query, hit.passage.text)
