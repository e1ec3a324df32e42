"""`mixtune mix build | validate | show | stats | compare` (and `index | search`, mixtures/search_cli.py)."""

from __future__ import annotations

import argparse

from mixtune.commands import add_command


def register(subparsers: argparse._SubParsersAction) -> None:
    mix = subparsers.add_parser(
        "mix",
        help="build, validate and inspect mixture recipes",
        description="Turn a mixture recipe (YAML) into a built mixture: normalised rows, train/test splits, "
        "manifest, rejects and a report.",
    )
    sub = mix.add_subparsers(dest="mix_command", metavar="SUBCOMMAND")

    build = add_command(
        sub, "build", run_build, help="build a mixture (a no-op when the same hash is already built)"
    )
    build.add_argument("recipe", help="mixture recipe YAML")
    build.add_argument(
        "--out", help="output directory (default: recipe 'output', else the cache, named by hash)"
    )
    build.add_argument("--num-proc", type=int, default=None, help="processes for normalisation and writing")

    check = add_command(
        sub, "validate", run_validate, help="check a recipe's keys, types, values and files; loads no data"
    )
    check.add_argument("recipe", help="mixture recipe YAML")

    show = add_command(sub, "show", run_show, help="summarise a built mixture and render a few rows")
    show.add_argument("dir", help="built mixture directory")
    show.add_argument("--rows", type=int, default=2, help="sample rows to render (default 2)")
    show.add_argument("--split", default="train", choices=["train", "test"])

    stats = add_command(
        sub,
        "stats",
        run_stats,
        help="rows, tokens, shares, turns, lengths, code languages and filter drops of a built mixture",
    )
    stats.add_argument("dir", help="built mixture directory")
    stats.add_argument("--out", help="also write report.md, stats.json, composition.png and lengths.png here")
    stats.add_argument(
        "--tokenizer", help="count tokens with this tokenizer (Hub id or folder); default characters"
    )
    stats.add_argument("--json", action="store_true", help="print the statistics as JSON instead of markdown")
    stats.add_argument("--num-proc", type=int, default=None, help="processes for measuring rows")

    compare = add_command(
        sub, "compare", run_compare, help="compare built mixtures side by side (report + plots)"
    )
    compare.add_argument("dirs", nargs="+", metavar="DIR", help="two or more built mixture directories")
    compare.add_argument("--out", default="mixture-compare", help="output folder (default ./mixture-compare)")
    compare.add_argument(
        "--tokenizer", help="count tokens with this tokenizer (Hub id or folder); default characters"
    )
    compare.add_argument("--num-proc", type=int, default=None, help="processes for measuring rows")
    from mixtures.search_cli import register as register_search

    register_search(sub)
    mix.set_defaults(func=lambda args: mix.print_help() or 2)


def run_build(args: argparse.Namespace) -> int:
    from mixtures import build_mixture, read_manifest

    out = build_mixture(args.recipe, out=args.out, num_proc=args.num_proc)
    manifest = read_manifest(out)
    splits = manifest["splits"]
    print(
        f"{manifest['name']} {manifest['hash']}: train {splits['train']}, test {splits['test']}, "
        f"rejected {manifest['rejects']['total']}"
    )
    print(out)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from mixtures.recipe import check_offline, load_mixture_recipe

    recipe = load_mixture_recipe(args.recipe)
    notes = check_offline(recipe, args.recipe)
    print(f"{args.recipe}: ok — mixture '{recipe.name}' ({recipe.kind}), {len(recipe.sources)} source(s)")
    for src in recipe.sources:
        where = src.hub or src.path or (src.code_repo.path if src.code_repo else "?")
        amount = ", ".join(f"{k} {v:g}" for k, v in src.amount.items())
        test = (
            src.test_split
            or src.test_path
            or (f"holdout {recipe.test.holdout:g}" if recipe.test.holdout else "none")
        )
        shape = src.format
        if recipe.kind == "completion":
            rules = recipe.file_rules(src)
            shape = f"files: {', '.join(rules.languages) if rules.languages else 'every language'}"
            test = f"{recipe.test.holdout:g} of the {recipe.test.by}s (by path hash)"
        print(f"  - {src.name}: {where} [{shape}] {amount}; test: {test}")
    for note in notes:
        print(f"  note: {note}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table

    from mixtures import load_mixture, read_manifest
    from mixtures.report import render_row

    manifest = read_manifest(args.dir)
    console = Console()
    console.print(
        f"[bold]{manifest['name']}[/] ({manifest['kind']}) hash {manifest['hash']} — "
        f"train {manifest['splits']['train']}, test {manifest['splits']['test']}, "
        f"rejected {manifest['rejects']['total']}"
    )
    table = Table("source", "rows in", "kept", "dropped", "train", "share", "test")
    for name, e in manifest["sources"].items():
        dropped = ", ".join(f"{k} {v}" for k, v in e["dropped"].items()) or "-"
        up = "↑" if e["upsampled"] else ""
        table.add_row(
            name,
            str(e["rows_in"]),
            str(e["kept"]),
            dropped,
            f"{e['train_rows']}{up}",
            f"{100 * e['share_of_train']:.1f}%",
            str(e["test"]["rows"]),
        )
    console.print(table)
    ds = load_mixture(args.dir)[args.split]
    for i in range(min(args.rows, len(ds))):
        row = ds[i]
        console.rule(f"{args.split}[{i}] {row['id']}")
        console.print(Markdown(render_row(row, manifest["kind"])))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    import json

    from mixtures.stats import mixture_stats, stats_markdown, write_stats

    stats = mixture_stats(args.dir, tokenizer=args.tokenizer, num_proc=args.num_proc)
    if args.out:
        write_stats(stats, args.out)
    print(json.dumps(stats, indent=2) if args.json else stats_markdown(stats, images=False))
    if args.out:
        print(f"wrote {args.out}/report.md, stats.json, composition.png, lengths.png")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from mixtures.compare import compare_mixtures

    if len(args.dirs) < 2:
        from mixtune.errors import MixtuneError

        raise MixtuneError("mix compare needs at least two built mixture directories")
    out = compare_mixtures(args.dirs, args.out, tokenizer=args.tokenizer, num_proc=args.num_proc)
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"wrote {out}/report.md, stats.json, composition.png, lengths.png")
    return 0
