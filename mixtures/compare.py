"""Two or more built mixtures side by side: composition, lengths, turns, code languages and what
the filters dropped, so an evaluator sees how the mixtures differ before looking at scores.

`compare_mixtures(dirs, out)` writes `report.md`, `stats.json`, `composition.png` (stacked bars,
one per mixture) and `lengths.png` into `out`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixtune.errors import MixtuneError
from mixtures.flow import flow_markdown
from mixtures.plots import (
    mixture_flows,
    mixture_labels,
    plot_composition,
    plot_lengths,
    plot_mixture_flows,
    source_order,
)
from mixtures.stats import mixture_stats


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _num(x: float) -> str:
    return f"{x:,.1f}" if isinstance(x, float) and not float(x).is_integer() else f"{int(x):,}"


EMPTY_TRAIN = {
    "rows": 0,
    "length": {"total": 0, "mean": 0, "p50": 0, "p95": 0},
    "turns": {"mean": 0},
    "languages": {},
}


def _train(s: dict[str, Any]) -> dict[str, Any]:
    return s["split_stats"].get("train", EMPTY_TRAIN)


def _table_head(labels: list[str]) -> tuple[str, str]:
    head = "| | " + " | ".join(f"`{lbl}`" for lbl in labels) + " |"
    return head, "| --- |" + " ---: |" * len(labels)


def _overview(stats_list: list[dict[str, Any]], unit: str | None) -> list[tuple[str, list[str]]]:
    """(row name, one cell per mixture) of the overview table."""
    train = [_train(s) for s in stats_list]
    return [
        ("kind", [s["kind"] for s in stats_list]),
        ("hash", [f"`{s['hash']}`" for s in stats_list]),
        ("train rows", [f"{s['splits'].get('train', 0):,}" for s in stats_list]),
        ("test rows", [f"{s['splits'].get('test', 0):,}" for s in stats_list]),
        ("sources", [str(len(s["sources"])) for s in stats_list]),
        (
            f"train {unit or 'length'}",
            [f"{t['length']['total']:,} {s['unit']}" for t, s in zip(train, stats_list, strict=True)],
        ),
        ("mean length / row", [_num(t["length"]["mean"]) for t in train]),
        ("p95 length / row", [_num(t["length"]["p95"]) for t in train]),
        ("mean turns", [f"{t['turns']['mean']:.2f}" for t in train]),
        ("rows with code", [_pct(t.get("rows_with_code", 0) / max(1, t["rows"])) for t in train]),
        ("rows dropped by filters", [f"{sum(s['dropped'].values()):,}" for s in stats_list]),
    ]


def _composition(
    stats_list: list[dict[str, Any]], labels: list[str], share_key: str, what: str
) -> tuple[list[str], list[tuple[float, str, float, float]]]:
    """The composition table (with a change column for two mixtures) and, for two, each source's
    (|shift|, name, first share, second share)."""
    two = len(stats_list) == 2
    head, rule = _table_head(labels)
    lines = [
        "",
        f"## Composition (share of train {what})",
        "",
        head[:-2] + (" | Δ (2nd − 1st) |" if two else " |"),
        rule + (" ---: |" if two else ""),
    ]
    shifts = []
    for name in source_order(stats_list):
        shares = [s["sources"].get(name, {}).get(share_key) for s in stats_list]
        cells = ["—" if v is None else _pct(v) for v in shares]
        if two:
            a, b = (v or 0.0 for v in shares)
            cells.append(f"{100 * (b - a):+.1f} pp")
            shifts.append((abs(b - a), name, a, b))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines, shifts


def _languages(stats_list: list[dict[str, Any]], labels: list[str]) -> list[str]:
    head, rule = _table_head(labels)
    lines = ["", "## Programming languages of code blocks (share of blocks, train)", "", head, rule]
    langs: list[str] = []
    for s in stats_list:
        langs += [lang for lang in _train(s)["languages"] if lang not in langs]
    for lang in langs:
        cells = []
        for s in stats_list:
            counts = _train(s)["languages"]
            total = sum(counts.values())
            cells.append(f"{_pct(counts.get(lang, 0) / total)} ({counts.get(lang, 0):,})" if total else "—")
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    if not langs:
        lines.append("| (no fenced code blocks) |" + " |" * len(labels))
    return lines


def _drops(stats_list: list[dict[str, Any]], labels: list[str]) -> list[str]:
    head, rule = _table_head(labels)
    lines = ["", "## Rows dropped by filters", "", head, rule]
    reasons: list[str] = []
    for s in stats_list:
        reasons += [r for r in s["dropped"] if r not in reasons]
    for reason in reasons:
        lines.append(
            f"| {reason} | " + " | ".join(f"{s['dropped'].get(reason, 0):,}" for s in stats_list) + " |"
        )
    if not reasons:
        lines.append("| (none) |" + " |" * len(labels))
    return lines


def _differences(
    stats_list: list[dict[str, Any]], labels: list[str], shifts: list, unit: str | None, what: str
) -> list[str]:
    """Sources only one mixture has; for two mixtures, the largest share shifts and the change in
    mean row length."""
    notes = []
    for i, s in enumerate(stats_list):
        only = [
            n for n in s["sources"] if all(n not in o["sources"] for j, o in enumerate(stats_list) if j != i)
        ]
        if only:
            notes.append(f"- only in `{labels[i]}`: " + ", ".join(f"`{n}`" for n in only))
    if len(stats_list) == 2:
        for delta, name, a, b in sorted(shifts, reverse=True)[:3]:
            if delta >= 0.01:
                notes.append(f"- `{name}`: {_pct(a)} → {_pct(b)} of train {what}")
        m0, m1 = _train(stats_list[0])["length"]["mean"], _train(stats_list[1])["length"]["mean"]
        if m0 and unit:
            notes.append(f"- mean row length: {_num(m0)} → {_num(m1)} {unit} ({100 * (m1 - m0) / m0:+.0f}%)")
    return ["", "## Differences", "", *notes] if notes else []


def compare_markdown(stats_list: list[dict[str, Any]]) -> str:
    """The comparison report: overview, composition, languages, rows in → kept, drops, differences."""
    labels = mixture_labels(stats_list)
    head, rule = _table_head(labels)
    units = {s["unit"] for s in stats_list}
    unit = next(iter(units)) if len(units) == 1 else None
    what = unit or "rows"
    lines = [
        "# Mixture comparison: " + " vs ".join(f"`{lbl}`" for lbl in labels),
        "",
        "![composition](composition.png)",
        "",
        "## Overview",
        "",
        head,
        rule,
    ]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in _overview(stats_list, unit)]
    composition, shifts = _composition(stats_list, labels, f"share_{unit}" if unit else "share_rows", what)
    lines += composition + _languages(stats_list, labels)
    lines += ["", "## Rows in → kept, per source", "", "![flow](flow.png)", ""]
    lines += flow_markdown(mixture_flows(stats_list)) + _drops(stats_list, labels)
    lines += _differences(stats_list, labels, shifts, unit, what)
    lines += ["", "## Lengths and turns", "", "![lengths](lengths.png)", ""]
    if len(units) > 1:
        lines.insert(
            2,
            "> The mixtures' lengths are in different units (tokens vs characters); shares of rows are compared instead.\n",
        )
    return "\n".join(lines)


def compare_mixtures(
    dirs: list[str | Path], out: str | Path, tokenizer: str | None = None, num_proc: int | None = None
) -> Path:
    """Compare built mixtures; writes report.md, stats.json, composition.png, flow.png and lengths.png
    into `out`."""
    if len(dirs) < 2:
        raise MixtuneError("compare needs at least two built mixture directories")
    stats_list = [mixture_stats(d, tokenizer=tokenizer, num_proc=num_proc) for d in dirs]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = mixture_labels(stats_list)
    (out / "stats.json").write_text(
        json.dumps(dict(zip(labels, stats_list, strict=True)), indent=2) + "\n", encoding="utf-8"
    )
    plot_composition(stats_list, out / "composition.png")
    plot_mixture_flows(stats_list, out / "flow.png")
    plot_lengths(stats_list, out / "lengths.png")
    (out / "report.md").write_text(compare_markdown(stats_list), encoding="utf-8")
    return out
