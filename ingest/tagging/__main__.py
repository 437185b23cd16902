"""``python -m ingest.tagging [FILE|-]``: tag one article and print its tags as JSON.

Input is a JSON object {"title", "summary", "content"} with optional "outlet_country" (or
"outlet" when it is a two-letter code) and "categories"; anything that is not a JSON object
is read as plain text (first line the title, the rest the content).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import tag_article, tag_result_to_json


def article_from_text(raw: str) -> dict[str, Any]:
    """The article fields from the CLI's input: a JSON object, or plain text."""
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        return obj
    title, _, rest = raw.strip().partition("\n")
    return {"title": title, "content": rest}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: python -m ingest.tagging [FILE|-]", file=sys.stderr)
        return 2
    source = args[0] if args else "-"
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as e:
        print(f"cannot read {source}: {e.strerror}", file=sys.stderr)
        return 1
    art = article_from_text(raw)
    outlet = art.get("outlet_country") or art.get("outlet")
    outlet_country = outlet if isinstance(outlet, str) and len(outlet) == 2 else None
    cats = art.get("categories") or ()
    result = tag_article(
        str(art.get("title") or ""),
        str(art.get("summary") or ""),
        str(art.get("content") or ""),
        categories=[str(c) for c in cats] if isinstance(cats, list) else (),
        outlet_country=outlet_country,
    )
    json.dump(tag_result_to_json(result), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
