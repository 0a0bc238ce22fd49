"""The reader's side over the app: the article page (HTML, parsed with lxml), the cite
endpoint, and the search results as CSV (parsed with the csv module)."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import html

from semsearch.index.build.builder import build_index
from semsearch.search.service import SearchService
from semsearch.web import create_app
from semsearch.web.reader import CSV_COLUMNS
from tests.conftest import FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder

RYE = "08_century_old_rye_starter"


@pytest.fixture(scope="module")
def odd_client(tmp_path_factory: pytest.TempPathFactory):
    """Articles that try to inject markup or formulas, one with only a title and text, and
    one whose id holds a slash and a space."""
    folder = tmp_path_factory.mktemp("odd")
    records = [
        {
            "id": "evil",
            "title": "<script>alert(1)</script> Evil",
            "author": "<b>Mallory</b>",
            "text": "Harbour news <script>alert(2)</script> <img src=x onerror=alert(3)> harbour.",
            "url": "javascript:alert(4)",
            "copyright": "<b>mine</b>",
        },
        {"id": "bare", "title": "Bare", "text": '=HYPERLINK("x") a harbour passage.'},
    ]
    (folder / "odd.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    (folder / "2024").mkdir()
    (folder / "2024" / "tide mill.md").write_text("# The Tide Mill\n\nThe tide mill ground corn.\n")
    embedder = HashingEmbedder(dimension=64)
    build_index([folder], folder / "idx", embedder)
    service = SearchService(folder / "idx", embedder, {"min_score": FAKE_MIN_SCORE})
    return create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()


def page(client, url: str, status: int = 200) -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return html.fromstring(response.get_data(as_text=True))


# --- the article page ---------------------------------------------------------------------


def test_article_page_shows_the_whole_article_with_its_credits(client) -> None:
    body = client.get(f"/api/articles/{RYE}").get_json()["article"]
    tree = page(client, f"/articles/{RYE}")
    assert tree.cssselect("h1.title")[0].text_content() == body["title"]
    assert tree.cssselect(".meta .author")[0].text_content() == "Rosa Inglehart"
    assert tree.cssselect(".meta .publication")[0].text_content() == "Prairie Signal"
    assert tree.cssselect(".meta time")[0].get("datetime") == "2024-01-19"
    assert tree.cssselect(".copyright")[0].text_content() == body["copyright"]
    assert tree.cssselect(".license")[0].text_content() == body["license"]
    assert tree.cssselect(".source-note")[0].text_content() == body["source_note"]
    tags = {dt.text_content(): dt.getnext().text_content() for dt in tree.cssselect("dl.tags dt")}
    assert tags == {name: ", ".join(values) for name, values in body["tags"].items()}
    # No article URL here: the link goes to the publisher's site (http(s) only).
    assert tree.cssselect("a.original")[0].get("href") == "http://www.prairiesignal.example"
    (alternate,) = tree.xpath("//link[@rel='alternate']")
    assert alternate.get("type") == "application/json"
    assert alternate.get("href") == f"/api/articles/{RYE}"
    # The text is the clean text exactly, cut into addressable passages.
    (text,) = tree.cssselect(".article-text")
    assert text.text_content() == body["text"]
    ids = [element.get("id") for element in text.cssselect(".passage")]
    assert ids == [f"c{p['chunk_id']}" for p in body["passages"]]
    assert not tree.cssselect(".passage.marked") and not tree.cssselect(".quotation")


def test_article_page_offers_citations_to_copy(client) -> None:
    tree = page(client, f"/articles/{RYE}")
    boxes = {box.get("id"): box for box in tree.cssselect("section.cite textarea")}
    assert set(boxes) == {"cite-text", "cite-apa", "cite-chicago"}
    assert all(box.get("readonly") is not None for box in boxes.values())
    assert boxes["cite-apa"].text_content().startswith("Inglehart, R. (2024, January 19).")
    assert boxes["cite-chicago"].text_content().startswith("Inglehart, Rosa. “A Century-Old")
    assert "Copyright © Rosa Inglehart" in boxes["cite-text"].text_content()
    assert tree.cssselect("section.cite pre")[0].text_content().startswith("@article{")
    downloads = [a.get("href") for a in tree.cssselect("section.cite .downloads a")]
    assert downloads == [
        f"/api/articles/{RYE}/cite?format=bibtex",
        f"/api/articles/{RYE}/cite?format=csl-json",
    ]


def test_from_a_hit_the_passage_and_its_best_sentence_are_marked(client) -> None:
    results = page(client, "/?q=sourdough rye starter bakery")
    first = results.cssselect("li.hit")[0]
    (read,) = first.cssselect("a.read")
    assert read.text_content() == "Read in article"
    link = urlsplit(read.get("href"))
    assert link.path == f"/articles/{RYE}"
    chunk = parse_qs(link.query)["chunk"][0]
    assert parse_qs(link.query)["q"] == ["sourdough rye starter bakery"]
    assert link.fragment == f"c{chunk}"

    tree = page(client, f"{link.path}?{link.query}")
    (marked,) = tree.cssselect(".passage.marked")
    assert marked.get("id") == f"c{chunk}"
    (best,) = marked.cssselect("span.best")
    words = {m.text_content().lower() for m in marked.cssselect("mark")}
    assert {"rye", "starter", "bakery"} <= words
    # The whole text is still there, once, in order.
    api = client.get(f"/api/articles/{RYE}").get_json()["article"]
    assert tree.cssselect(".article-text")[0].text_content() == api["text"]
    # Every passage stays addressable, those inside the marked one too.
    found = {e.get("id") for e in tree.cssselect(".article-text [id]")}
    assert found == {f"c{p['chunk_id']}" for p in api["passages"]}
    # The best sentence offered as a quotation with its attribution.
    quote = tree.cssselect(".quotation textarea")[0].text_content()
    assert quote.startswith("“" + " ".join(best.text_content().split()) + "”")
    assert quote.endswith("Copyright © Rosa Inglehart, Prairie Signal, 2024")
    assert tree.cssselect("p.back a")[0].get("href") == "/?q=sourdough+rye+starter+bakery"


@pytest.mark.parametrize("chunk", ["abc", "-1", "999999", "1"])
def test_a_chunk_that_is_not_this_articles_marks_nothing(client, chunk: str) -> None:
    tree = page(client, f"/articles/{RYE}?q=rye&chunk={chunk}")
    assert not tree.cssselect(".passage.marked")
    assert tree.cssselect("h1.title")


def test_unknown_article_is_a_404_page_and_a_json_404_under_api(client) -> None:
    tree = page(client, "/articles/no-such-article", status=404)
    assert "no article with id 'no-such-article'" in tree.cssselect(".error")[0].text_content()
    for path in ("/api/articles/no-such-article", "/api/articles/no-such-article/cite"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json() == {
            "ok": False,
            "error": "no article with id 'no-such-article' in this index",
            "status": 404,
        }


def test_ids_with_slashes_and_spaces_are_quoted(odd_client) -> None:
    tree = page(odd_client, "/articles/2024/tide%20mill")
    assert tree.cssselect("h1.title")[0].text_content() == "The Tide Mill"
    assert tree.xpath("//link[@rel='alternate']/@href") == ["/api/articles/2024/tide%20mill"]
    hit = page(odd_client, "/?q=tide mill corn").cssselect("li.hit a.read")[0].get("href")
    assert hit.startswith("/articles/2024/tide%20mill?")
    response = odd_client.get("/api/articles/2024/tide%20mill/cite?format=apa")
    assert response.status_code == 200 and "The Tide Mill" in response.get_data(as_text=True)


def test_search_page_hits_link_to_the_article_and_offer_a_citation(client) -> None:
    tree = page(client, "/?q=tram strike split shifts")
    hits = tree.cssselect("li.hit")
    assert hits
    for hit in hits:
        assert hit.cssselect("a.read")[0].get("href").startswith("/articles/")
        credit = hit.cssselect("details.cite textarea.credit-line")[0].text_content()
        publication = hit.cssselect(".publication")[0].text_content()
        assert publication in credit and "None" not in credit
        formats = [
            parse_qs(urlsplit(a.get("href")).query)["format"][0]
            for a in hit.cssselect("details.cite .downloads a")
        ]
        assert formats == ["apa", "chicago", "bibtex", "csl-json"]
    quote = hits[0].cssselect("details.cite textarea.quote")[0].text_content()
    assert quote.startswith("“") and "” — " in quote


def test_xss_stays_inert_on_the_article_page_and_in_citations(odd_client) -> None:
    response = odd_client.get("/articles/evil?q=harbour&chunk=1")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>" not in text and "<img src=x" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'href="javascript:' not in text
    tree = html.fromstring(text)
    assert not tree.xpath("//script | //img | //b")
    apa = tree.cssselect("#cite-apa")[0].text_content()
    assert "<script>alert(1)</script> Evil" in apa  # shown as text, escaped in the HTML
    cited = odd_client.get("/api/articles/evil/cite?format=chicago")
    assert cited.mimetype == "text/plain" and cited.headers["X-Content-Type-Options"] == "nosniff"


def test_an_article_with_only_a_title_still_has_its_citations(odd_client) -> None:
    tree = page(odd_client, "/articles/bare")
    boxes = {box.get("id"): box.text_content() for box in tree.cssselect("section.cite textarea")}
    assert boxes == {
        "cite-text": "“Bare”.",
        "cite-apa": "Bare. (n.d.).",
        "cite-chicago": "“Bare,” n.d.",
    }
    assert "None" not in tree.text_content()
    assert not tree.cssselect(".meta span, .meta time, a.original, dl.tags")


# --- the cite endpoint --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type", "download"),
    [
        ("text", "text/plain", None),
        ("apa", "text/plain", None),
        ("chicago", "text/plain", None),
        ("bibtex", "application/x-bibtex", 'attachment; filename="inglehart2024century.bib"'),
        (
            "csl-json",
            "application/vnd.citationstyles.csl+json",
            'attachment; filename="inglehart2024century.json"',
        ),
    ],
)
def test_cite_formats(client, fmt: str, media_type: str, download: str | None) -> None:
    response = client.get(f"/api/articles/{RYE}/cite?format={fmt}")
    assert response.status_code == 200
    assert response.mimetype == media_type
    assert response.headers.get("Content-Disposition") == download
    text = response.get_data(as_text=True)
    assert "None" not in text
    if fmt == "csl-json":
        (item,) = json.loads(text)
        assert item["id"] == RYE and item["container-title"] == "Prairie Signal"
        assert item["issued"] == {"date-parts": [[2024, 1, 19]]}
    elif fmt == "bibtex":
        assert text.startswith("@article{inglehart2024century,")
    else:
        assert "Century-Old Rye Starter" in text


def test_cite_defaults_to_the_credit_line(client) -> None:
    default = client.get(f"/api/articles/{RYE}/cite")
    assert default.status_code == 200
    assert default.data == client.get(f"/api/articles/{RYE}/cite?format=text").data
    assert client.get(f"/api/articles/{RYE}/cite?format= APA ").data.startswith(b"Inglehart, R.")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("format=mla", "format must be one of text, apa, chicago, bibtex, csl-json; got 'mla'"),
        ("style=apa", "unknown parameter 'style'; known: format"),
    ],
)
def test_cite_refuses_bad_parameters(client, query: str, message: str) -> None:
    response = client.get(f"/api/articles/{RYE}/cite?{query}")
    assert response.status_code == 400
    assert response.get_json() == {"ok": False, "error": message, "status": 400}


# --- CSV ----------------------------------------------------------------------------------


def test_search_as_csv_has_the_attribution_columns(client) -> None:
    query = "/api/search?q=sourdough rye starter&k=4"
    response = client.get(query + "&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="search-sourdough-rye-starter.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS == (
        "rank", "score", "title", "author", "publication", "published", "url", "copyright",
        "license", "passage", "article_id", "chunk_id",
    )  # fmt: skip
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    results = client.get(query).get_json()["results"]
    assert len(records) == len(results) == 4
    for rank, (record, result) in enumerate(zip(records, results, strict=True), start=1):
        article = result["article"]
        assert record["rank"] == str(rank)
        assert float(record["score"]) == pytest.approx(result["score"])
        for name in ("title", "author", "publication", "published", "copyright", "license"):
            assert record[name] == (article[name] or ""), name
        assert record["url"] == (article["url"] or "")
        assert record["passage"] == " ".join(result["passage"]["text"].split())
        assert record["article_id"] == article["id"]
        assert record["chunk_id"] == str(result["passage"]["chunk_id"])
    assert records[0]["author"] == "Rosa Inglehart"


def test_csv_by_post_and_case_of_the_format(client) -> None:
    response = client.post("/api/search", json={"q": "tidal power", "k": 2, "format": " CSV "})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert len(list(csv.reader(io.StringIO(response.get_data(as_text=True))))) == 3
    assert client.get("/api/search?q=tidal&format=json").mimetype == "application/json"


def test_csv_cells_are_never_formulas(odd_client) -> None:
    response = odd_client.get("/api/search?q=harbour passage&format=csv&k=5")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    bare = next(row for row in rows if row["article_id"] == "bare")
    assert bare["passage"].startswith("'=HYPERLINK")
    assert all(not value.startswith(("=", "+", "@")) for row in rows for value in row.values())
    evil = next(row for row in rows if row["article_id"] == "evil")
    assert evil["url"] == ""  # not an http(s) URL


@pytest.mark.parametrize("value", ["xml", "CSV2", "0"])
def test_unparsable_format_is_a_400_naming_the_choices(client, value: str) -> None:
    response = client.get(f"/api/search?q=tidal&format={value}")
    assert response.status_code == 400
    assert (
        response.get_json()["error"] == f"format must be one of json, csv, atom, rss; got {value!r}"
    )


def test_page_links_to_the_csv(client) -> None:
    tree = page(client, "/?q=tidal power&k=3")
    href = tree.cssselect("a.csv")[0].get("href")
    response = client.get(href)
    assert response.mimetype == "text/csv"
    assert len(response.get_data(as_text=True).splitlines()) == 4
