"""Site boilerplate out of article texts, whatever the input format.

Two passes, both on `Article` records after reading:

* `strip_footer_shapes` — lines of a recognisable footer shape (comment policies, share and
  like prompts, tag and category lists, "fair use" notices, follow-me lines, WordPress's
  "The post ... appeared first on ...") leave one article's text. A copyright or licence
  line or a source note such a footer carries becomes the article's `copyright`, `license`
  or `source_note`, as the seed layout's footer does (`semsearch.index.ingest.layout`).
* `remove_learned_boilerplate` — blocks (lines) that repeat across many articles of one
  source (its publication, else its URL's domain) are learned from the collection and leave
  every article of that source. A block is boilerplate when it is in at least
  `MIN_REPEATS` articles and at least `MIN_FRACTION` of the source's articles; a block in one
  article only is never removed. Run it after syndicated copies are collapsed
  (`semsearch.index.ingest.copies`): two copies of one story share every paragraph.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from semsearch.index.ingest.articles import Article

#: A block must repeat in this many articles of a source, at least, to be boilerplate.
MIN_REPEATS = 3
#: ... and in this fraction of the source's articles (2 % of a 10,000-article site is 200).
MIN_FRACTION = 0.02
#: Longest footer-shaped line (in words) removed for its shape; longer is prose.
SHAPE_MAX_WORDS = 120
#: Longest copyright / licence / source line (in words) taken as attribution.
ATTRIBUTION_MAX_WORDS = 30

_WORD = re.compile(r"\w+")
_SHAPES: tuple[tuple[str, re.Pattern[str], int], ...] = (
    (
        "comment_policy",
        re.compile(
            r"^(?:comment(?:ing)? policy\b|please (?:adhere to|read|respect) our comment)", re.I
        ),
        SHAPE_MAX_WORDS,
    ),
    (
        "comment_prompt",
        re.compile(
            r"\b(?:leave|post|share) (?:a |your )?(?:comments?|thoughts) "
            r"(?:below|in the comments?)\b|\blet me know (?:below )?in the comments\b",
            re.I,
        ),
        40,
    ),
    (
        "share_prompt",
        re.compile(
            r"^(?:share this(?: article| post| story)?|like this|tweet this|spread the word)\b"
            r"|\bclick (?:on )?(?:the )?[\"'“‘]?(?:like|share)[\"'”’]? button\b"
            r"|\b(?:like|share|subscribe)\b.{0,40}\b(?:this (?:article|post|story|video))\b.{0,80}$"
            r"|^(?:like|follow) us on (?:facebook|twitter|instagram|x|youtube|telegram)\b",
            re.I,
        ),
        40,
    ),
    (
        "tag_list",
        re.compile(
            r"^(?:filed under|tagged(?: with)?|tags|categories|category|posted in|topics)\s*:", re.I
        ),
        60,
    ),
    (
        "fair_use",
        re.compile(
            r"\bfair use\b.{0,200}(?:doctrine|sec(?:tion|\.)? ?107|title 17|copyrighted material)"
            r"|^all posts are opinions meant to foster comment",
            re.I,
        ),
        SHAPE_MAX_WORDS,
    ),
    (
        "follow_me",
        re.compile(
            r"^(?:follow (?:me|us|him|her|them)?\s*(?:@\w+|on (?:twitter|facebook|instagram|x|"
            r"youtube|telegram|gab|mastodon)\b)|follow @\w+"
            r"|follow the .{1,60} on (?:twitter|facebook)\b)"
            r"|^@\w{1,30}$",
            re.I,
        ),
        25,
    ),
    (
        "newsletter",
        re.compile(
            r"^(?:sign up|subscribe)(?: now)? (?:for|to) (?:our|the|my) (?:free )?"
            r"(?:daily |weekly )?newsletter\b",
            re.I,
        ),
        40,
    ),
    # The same shapes in other languages (German, French, Spanish, Italian, Portuguese,
    # Dutch): share this, subscribe to the newsletter, follow us.
    (
        "share_prompt",
        re.compile(
            r"^(?:(?:diesen )?(?:artikel|beitrag) teilen|teilen sie diesen (?:artikel|beitrag)"
            r"|partager (?:cet|l')article|partagez cet article|compart(?:e|ir) (?:este|esta) "
            r"(?:artículo|noticia|nota)|condividi (?:questo|l')articolo|compartilhe (?:este|esta) "
            r"(?:artigo|matéria)|deel dit (?:artikel|bericht))\b",
            re.I,
        ),
        40,
    ),
    (
        "newsletter",
        re.compile(
            r"^(?:(?:jetzt )?(?:(?:unseren |den )?newsletter (?:abonnieren|bestellen)|melden sie "
            r"sich (?:jetzt )?(?:für|zu) unserem newsletter an)|abonnez-vous à (?:notre|la) "
            r"newsletter|inscrivez-vous à (?:notre|la) newsletter|suscr[ií]bete a (?:nuestro|el) "
            r"(?:boletín|newsletter)|iscriviti alla (?:nostra )?newsletter"
            r"|assine (?:a nossa|nossa) newsletter|schrijf je in voor (?:onze|de) nieuwsbrief)\b",
            re.I,
        ),
        40,
    ),
    (
        "follow_me",
        re.compile(
            r"^(?:folgen sie uns|folge uns|suivez-nous|síguenos|seguici|siga-nos|volg ons) "
            r"(?:auf|sur|en|su|no|op)\s+(?:twitter|facebook|instagram|x|youtube|telegram)\b",
            re.I,
        ),
        25,
    ),
)
_COPYRIGHT = re.compile(r"^(?:copyright\s*(?:©|\(c\)|\d{4})|©|\(c\)\s*\d{4})", re.I)
#: "All rights reserved" in the languages pages are most often in: a short line holding it is
#: a copyright line wherever the phrase stands in it ("Beispiel Verlag. Alle Rechte
#: vorbehalten.").
_RIGHTS_RESERVED = re.compile(
    r"all rights reserved|alle rechte vorbehalten|tous droits réservés|todos los derechos "
    r"reservados|tutti i diritti riservati|todos os direitos reservados|alle rechten "
    r"voorbehouden|wszelkie prawa zastrzeżone|všechna práva vyhrazena|alla rättigheter "
    r"förbehållna|kaikki oikeudet pidätetään|все права защищены|всі права захищені|"
    r"tüm hakları saklıdır|toate drepturile rezervate|με επιφύλαξη παντός δικαιώματος|"
    r"جميع الحقوق محفوظة|כל הזכויות שמורות|सर्वाधिकार सुरक्षित|สงวนลิขสิทธิ์|"
    r"bảo lưu mọi quyền|版权所有|版權所有|著作権|무단 전재",
    re.I,
)
_LICENSE = re.compile(
    r"^(?:this (?:work|article|post|content) is licen[cs]ed under|licen[cs]e[d]?\s*:|"
    r"creative commons (?:attribution|by)\b)",
    re.I,
)
_SOURCE = re.compile(
    r"^(?:the post .{1,300} appeared first on .{1,120}$|the original source of this article is\b|"
    r"originally published (?:at|on|by)\b|source\s*:\s*https?://\S+$)",
    re.I,
)


@dataclass
class FooterReport:
    """What `strip_footer_shapes` removed from one article, by shape."""

    removed: Counter[str] = field(default_factory=Counter)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


#: Calls to action of a blog's sign-off; a paragraph holding two different ones is a footer
#: even when it is long (a sign-off runs on for a hundred words), up to SIGN_OFF_MAX_WORDS.
_CALLS_TO_ACTION = (
    re.compile(r"\bclick (?:on )?(?:the )?[\"'“‘]?like[\"'”’]? button\b", re.I),
    re.compile(r"\b(?:click|hit|use) (?:on )?(?:the )?[\"'“‘]?share[\"'”’]? button\b", re.I),
    re.compile(
        r"\bsubscribe (?:via|by|with|to) (?:the |our |my )?(?:e-?mail|rss|newsletter)", re.I
    ),
    re.compile(r"\b(?:leave|post) (?:a |your )?comments? below\b", re.I),
    re.compile(r"\bfollow (?:me|us) on (?:twitter|facebook|instagram|x|youtube|telegram)\b", re.I),
)
SIGN_OFF_MAX_WORDS = 200


def footer_shape(line: str) -> str | None:
    """The footer shape a line has ("tag_list", "fair_use", ...), None for prose."""
    stripped = line.strip()
    if not stripped:
        return None
    words = _words(stripped)
    for name, pattern, max_words in _SHAPES:
        if words <= max_words and pattern.search(stripped):
            return name
    if words <= SIGN_OFF_MAX_WORDS:
        calls = sum(1 for pattern in _CALLS_TO_ACTION if pattern.search(stripped))
        if calls >= 2:
            return "share_prompt"
    return None


def strip_footer_shapes(article: Article) -> tuple[Article, Counter[str]]:
    """The article without its footer-shaped lines, attribution kept; counts by shape."""
    lines = article.text.splitlines()
    kept: list[str] = []
    removed: Counter[str] = Counter()
    copyright_line, license_line, source_line = (
        article.copyright,
        article.license,
        article.source_note,
    )
    extra: dict[str, Any] = dict(article.extra)
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        stripped = line.strip()
        shape = footer_shape(stripped)
        short = 0 < _words(stripped) <= ATTRIBUTION_MAX_WORDS
        if shape:
            removed[shape] += 1
            if shape == "fair_use":
                extra.setdefault("fair_use_notice", stripped)
            continue
        if short and (_COPYRIGHT.match(stripped) or _RIGHTS_RESERVED.search(stripped)):
            removed["copyright"] += 1
            copyright_line = copyright_line or stripped
            continue
        if short and _LICENSE.match(stripped):
            removed["license"] += 1
            license_line = license_line or stripped
            continue
        # A "Source: https://..." line is attribution only where a footer is: at the end.
        if (
            short
            and _SOURCE.match(stripped)
            and (i == last or not stripped.lower().startswith("source"))
        ):
            removed["source_note"] += 1
            source_line = source_line or stripped
            continue
        kept.append(line)
    if not removed:
        return article, removed
    text = _join(kept)
    if not text:
        return article, Counter()  # all footer-shaped: keep the text rather than lose it all
    changed = replace(
        article,
        text=text,
        copyright=copyright_line,
        license=license_line,
        source_note=source_line,
        extra=extra,
    )
    return changed, removed


def _join(lines: Iterable[str]) -> str:
    """Lines back into text, runs of blank lines left by removed ones collapsed to one."""
    text = "\n".join(lines)
    return re.sub(r"\n\s*\n(?:\s*\n)+", "\n\n", text).strip()


def source_of(article: Article) -> str | None:
    """The source an article's boilerplate is learned in: its publication, else its domain."""
    if article.publication and article.publication.strip():
        return article.publication.strip().lower()
    if article.url:
        host = urlsplit(article.url).hostname or ""
        return host.removeprefix("www.") or None
    return None


#: Lines of at most this many words compare with every number alike ("Posted 2019-03-12 |
#: 4 comments", "Page 2 of 5"); in longer lines the numbers are content: twelve reports
#: that differ only in their figures are twelve articles, not a template.
NUMBERS_ALIKE_MAX_WORDS = 8


def block_key(block: str) -> str:
    """A block as compared across articles: its words lower-cased, and in a short line every
    number alike."""
    words = _WORD.findall(block.lower())
    if len(words) <= NUMBERS_ALIKE_MAX_WORDS:
        words = [re.sub(r"\d+", "0", w) for w in words]
    return " ".join(words)


def learn_boilerplate(
    articles: Sequence[Article],
    min_repeats: int = MIN_REPEATS,
    min_fraction: float = MIN_FRACTION,
) -> dict[str, set[str]]:
    """For each source, the keys of the blocks that repeat across enough of its articles."""
    by_source: dict[str, list[Article]] = defaultdict(list)
    for article in articles:
        if (source := source_of(article)) is not None:
            by_source[source].append(article)
    learned: dict[str, set[str]] = {}
    for source, members in by_source.items():
        needed = max(min_repeats, math.ceil(min_fraction * len(members)), 2)
        if len(members) < needed:
            continue
        seen: Counter[str] = Counter()
        for article in members:
            # A block counts once per article: a line repeated inside one article is not
            # evidence of a site template.
            seen.update({key for line in article.text.splitlines() if (key := block_key(line))})
        blocks = {key for key, count in seen.items() if count >= needed}
        if blocks:
            learned[source] = blocks
    return learned


@dataclass(frozen=True)
class BoilerplateReport:
    """What the learned pass removed: blocks (lines) per source, and the articles changed."""

    blocks_removed: dict[str, int]
    distinct_blocks: dict[str, int]
    articles_changed: int

    def summary(self) -> str:
        """One line a source for the build summary, most removals first."""
        rows = sorted(self.blocks_removed.items(), key=lambda kv: (-kv[1], kv[0]))
        return "\n".join(
            f"{source}: {count:,} boilerplate blocks removed "
            f"({self.distinct_blocks[source]:,} distinct)"
            for source, count in rows
        )


def remove_learned_boilerplate(
    articles: Sequence[Article],
    min_repeats: int = MIN_REPEATS,
    min_fraction: float = MIN_FRACTION,
) -> tuple[list[Article], BoilerplateReport]:
    """Every article without its source's repeated blocks, and what was removed per source.

    An article whose every line is boilerplate keeps its text: a page that is all template
    is better found than silently emptied."""
    return apply_boilerplate(articles, learn_boilerplate(articles, min_repeats, min_fraction))


def merge_learned(*learned: dict[str, set[str]]) -> dict[str, set[str]]:
    """The union of several sources-to-blocks tables (a stored one and a newly learned one)."""
    merged: dict[str, set[str]] = defaultdict(set)
    for table in learned:
        for source, blocks in table.items():
            merged[source] |= blocks
    return dict(merged)


def apply_boilerplate(
    articles: Sequence[Article], learned: dict[str, set[str]]
) -> tuple[list[Article], BoilerplateReport]:
    """Every article without the learned blocks of its source, and what was removed per
    source; an article whose every line is a learned block keeps its text."""
    removed: Counter[str] = Counter()
    distinct: dict[str, set[str]] = defaultdict(set)
    out: list[Article] = []
    changed = 0
    for article in articles:
        source = source_of(article)
        blocks = learned.get(source) if source else None
        if not blocks:
            out.append(article)
            continue
        kept: list[str] = []
        hits: list[str] = []
        notice = article.copyright
        for line in article.text.splitlines():
            key = block_key(line)
            if key and key in blocks:
                hits.append(key)
                # A repeated "Copyright (c) ..." line leaves the text but stays the credit.
                if notice is None and re.search(r"copyright|©|\(c\)", line, re.I):
                    notice = (
                        " ".join(line.split()) if _words(line) <= ATTRIBUTION_MAX_WORDS else None
                    )
            else:
                kept.append(line)
        text = _join(kept)
        if not hits or not text:
            out.append(article)
            continue
        assert source is not None
        removed[source] += len(hits)
        distinct[source].update(hits)
        changed += 1
        out.append(replace(article, text=text, copyright=notice))
    report = BoilerplateReport(
        blocks_removed=dict(removed),
        distinct_blocks={s: len(b) for s, b in distinct.items()},
        articles_changed=changed,
    )
    return out, report
