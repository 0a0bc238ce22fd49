#!/usr/bin/env python
"""Write docs/settings.md from the settings registry (`semsearch.settings`).

Run it after changing a setting: `python scripts/settings_doc.py`. With `--check` it writes
nothing and exits 1 when the file differs from what the registry renders (for CI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from semsearch.settings import render_settings_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) docs/settings.md; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    parser.add_argument("--out", type=Path, default=DOC, help=f"where to write (default {DOC})")
    args = parser.parse_args(argv)
    text = render_settings_markdown()
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
    if args.check:
        if current != text:
            print(f"{args.out} is stale: run scripts/settings_doc.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
