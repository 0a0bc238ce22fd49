"""Which languages an embedding model reads, so that ranking knows when its dense list can be
trusted for a query (`semsearch.search.fusion`: per-query fusion moves weight to the dense
list only when the model reads the query's language and the collection's).

An embedder may say so itself with a `languages` attribute (a `ModelLanguages`: the packaged
multilingual model does); a model folder says so in its model card, the `language:` field of
README.md's front matter (Hugging Face's card metadata: `language: en` for
all-MiniLM-L6-v2, a list with `multilingual` for the multilingual models). A model that says
neither reads no language known here: nothing is trusted on its behalf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semsearch.index.text.languages import language_code

#: The card's word for a model trained on many languages.
MULTILINGUAL = "multilingual"
_FIELD = re.compile(r"^language\s*:\s*(.*)$")
_ITEM = re.compile(r"^\s*-\s*(.+)$")


@dataclass(frozen=True)
class ModelLanguages:
    """The languages a model reads: `every` for a multilingual model, else `languages`
    (two-letter codes; none for a model that does not say)."""

    languages: frozenset[str] = frozenset()
    every: bool = False

    def reads(self, language: str | None) -> bool:
        """Whether the model reads text in `language` (a multilingual one reads any, even
        text whose language is not known)."""
        return self.every or (bool(language) and language in self.languages)

    def as_dict(self) -> dict[str, object]:
        return {"every": self.every, "languages": sorted(self.languages)}


#: A multilingual model: reads every language.
EVERY_LANGUAGE = ModelLanguages(every=True)


def model_languages(embedder: Any) -> ModelLanguages:
    """What `embedder` reads: its own `languages`, else its model folder's card (`path`),
    else nothing."""
    declared = getattr(embedder, "languages", None)
    if isinstance(declared, ModelLanguages):
        return declared
    folder = getattr(embedder, "path", None)
    return card_languages(Path(folder)) if isinstance(folder, Path) else ModelLanguages()


def card_languages(folder: Path) -> ModelLanguages:
    """The languages a model card (README.md's front matter in `folder`) declares."""
    try:
        text = (folder / "README.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ModelLanguages()
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return ModelLanguages()
    values: list[str] = []
    in_field = False
    for line in lines[1:]:
        if line.strip() == "---":
            break
        field = _FIELD.match(line)
        if field:
            in_field = True
            values += [v for v in re.split(r"[\[\],\s]+", field.group(1)) if v]
            continue
        item = _ITEM.match(line) if in_field else None
        if item:
            values.append(item.group(1).strip().strip("'\""))
        else:
            in_field = False
    names = {value.strip("'\"").lower() for value in values}
    if MULTILINGUAL in names:
        return EVERY_LANGUAGE
    return ModelLanguages(frozenset(code for code in map(language_code, names) if code))
