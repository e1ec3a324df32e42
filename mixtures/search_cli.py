"""`mixtune mix index | search`: build a mixture's search index; find where code came from."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mixtune.commands import add_command


def register(sub: argparse._SubParsersAction) -> None:
    index = add_command(
        sub, "index", run_index, help="build the search index of a built mixture (beside it, as <DIR>.index/)"
    )
    index.add_argument("dir", help="built mixture directory")
    index.add_argument("--force", action="store_true", help="rebuild even when the index is current")

    search = add_command(
        sub,
        "search",
        run_search,
        help="find the rows of a mixture (or of every mixture a model was trained on) matching a query",
    )
    search.add_argument("target", metavar="DIR_OR_MODEL", help="built mixture, or a trained model directory")
    search.add_argument(
        "query", nargs="?", default=None, help='text or code; in double quotes ("...") for exact lines only'
    )
    search.add_argument("--code", help="read the query from this file")
    search.add_argument("--exact", action="store_true", help="exact lines only (as a quoted query)")
    search.add_argument("--top", type=int, default=5, help="matches to show (default 5)")
    search.add_argument("--json", action="store_true", help="print the matches as JSON")


def run_index(args: argparse.Namespace) -> int:
    from mixtures.search_index import build_index, is_current, read_meta

    fresh = not args.force and is_current(args.dir)
    out = build_index(args.dir, force=args.force)
    meta = read_meta(out) or {}
    state = "up to date" if fresh else f"built in {meta.get('build_seconds')} s"
    print(
        f"{meta.get('mixture')} {meta.get('hash')}: {meta.get('rows')} rows, {meta.get('segments')} segments ({state})"
    )
    print(out)
    return 0


def run_search(args: argparse.Namespace) -> int:
    from mixtune.errors import MixtuneError
    from mixtures.search import search

    if (args.query is None) == (args.code is None):
        raise MixtuneError("mix search: give a query or --code FILE (one of them)")
    query = Path(args.code).read_text(encoding="utf-8") if args.code else args.query
    matches = search(args.target, query, top=args.top, exact=True if args.exact else None)
    if args.json:
        print(json.dumps([m.as_dict() for m in matches], indent=2, ensure_ascii=False))
        return 0
    if not matches:
        print("no match")
        return 0
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    for m in matches:
        console.rule(f"{m.source} · row {m.row_id}", align="left")
        where = m.column if m.column != "messages" else f"turn {m.turn}"
        console.print(
            f"mixture {m.mixture} ({m.mixture_hash}) · {m.similarity:.2f} {m.method} · {m.role} {where} · "
            f"lines {m.span['start_line'] + 1}-{m.span['end_line'] + 1}"
        )
        lines = m.text.splitlines()
        lo, hi = m.span["start_line"], m.span["end_line"]
        shown = Text()
        for i in range(max(0, lo - 2), min(len(lines), hi + 3)):
            style = "bold reverse" if lo <= i <= hi else "dim"
            shown.append(f"{i + 1:>5} {'>' if lo <= i <= hi else ' '} {lines[i]}\n", style=style)
        console.print(shown, end="")
    return 0
