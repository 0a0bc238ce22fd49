"""Convert shared datasets into inputs the build reads (written to temp dirs, never committed)."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree


def hyperpartisan_to_jsonl(articles_xml: Path, ground_truth_xml: Path, out: Path) -> int:
    """SemEval-2019 hyperpartisan by-article XML (+ URLs from the ground truth) as JSONL."""
    urls = {
        el.get("id"): el.get("url")
        for el in etree.parse(str(ground_truth_xml)).getroot().iter("article")
    }
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for el in etree.parse(str(articles_xml)).getroot().iter("article"):
            # Text outside <p> is scraping noise (image credits, ads); keep the paragraphs.
            paragraphs = [" ".join("".join(p.itertext()).split()) for p in el.iter("p")]
            if not any(paragraphs):
                paragraphs = [" ".join("".join(el.itertext()).split())]
            record = {
                "id": el.get("id"),
                "title": el.get("title") or "",
                "text": "\n\n".join(p for p in paragraphs if p),
                "published": el.get("published-at"),
                "url": urls.get(el.get("id")),
            }
            if record["url"]:
                record["publication"] = record["url"].split("/")[2].removeprefix("www.")
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
