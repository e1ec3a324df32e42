"""Two or more built mixtures side by side: composition, lengths, turns, code languages and what
the filters dropped, so an evaluator sees how the mixtures differ before looking at scores.

`compare_mixtures(dirs, out)` writes `report.md`, `stats.json`, `composition.png` (stacked bars,
one per mixture) and `lengths.png` into `out`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mixtune.errors import MixtuneError
from mixtures.flow import Flow, flow_markdown, plot_flows, source_flows
from mixtures.stats import mixture_stats


def mixture_labels(stats_list: list[dict[str, Any]]) -> list[str]:
    """Mixture names, made unique with their hash when two mixtures share a name."""
    names = [s["name"] for s in stats_list]
    return [
        f"{n}@{s['hash'][:8]}" if names.count(n) > 1 else n for n, s in zip(names, stats_list, strict=True)
    ]


def _source_order(stats_list: list[dict[str, Any]]) -> list[str]:
    order: list[str] = []
    for stats in stats_list:
        order += [name for name in stats["sources"] if name not in order]
    return order


def _colors(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(names) > 10 else "tab10"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _short(unit: str) -> str:
    return {"characters": "chars"}.get(unit, unit)


def plot_composition(stats_list: list[dict[str, Any]], path: str | Path) -> Path:
    """Stacked horizontal bars, one per mixture: each source's share of rows and of tokens/characters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = mixture_labels(stats_list)
    sources = _source_order(stats_list)
    colors = _colors(sources)
    units = sorted({s["unit"] for s in stats_list})
    unit = units[0] if len(units) == 1 else "length"
    panels = [("share_rows", "rows"), (f"share_{unit}" if len(units) == 1 else None, unit)]
    height = 1.6 + 0.55 * len(stats_list) + 0.22 * len(sources)
    fig, axes = plt.subplots(1, 2, figsize=(13, max(3.2, height)), sharey=True)
    y = np.arange(len(stats_list))
    for ax, (key, what) in zip(axes, panels, strict=True):
        left = np.zeros(len(stats_list))
        for name in sources:
            shares = np.array(
                [
                    (s["sources"].get(name, {}).get(key or f"share_{s['unit']}", 0.0) or 0.0) * 100
                    for s in stats_list
                ]
            )
            ax.barh(
                y,
                shares,
                left=left,
                color=colors[name],
                edgecolor="white",
                linewidth=0.6,
                label=name,
                height=0.62,
            )
            for yi, (x0, w) in enumerate(zip(left, shares, strict=True)):
                if w >= 6:
                    ax.text(
                        x0 + w / 2,
                        yi,
                        f"{w:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white",
                        fontweight="bold",
                    )
            left += shares
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"share of train {what} (%)")
        ax.set_title(f"composition by {what}")
        ax.grid(axis="x", alpha=0.25)
        ax.set_axisbelow(True)
    totals = [
        f"{label}\n{s['splits'].get('train', 0):,} rows · {sum(v.get(s['unit'], 0) for v in s['sources'].values()):,} {_short(s['unit'])}"
        for label, s in zip(labels, stats_list, strict=True)
    ]
    axes[0].set_yticks(y, totals, fontsize=9)
    axes[0].invert_yaxis()
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=9, frameon=False)
    rows_of_legend = int(np.ceil(len(names) / min(4, max(1, len(names)))))
    fig.tight_layout(rect=(0, 0.06 + 0.045 * rows_of_legend, 1, 1))
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def _mixture_histogram(stats: dict[str, Any]) -> np.ndarray:
    counts = stats["length_histogram"]["counts"]
    edges = stats["length_histogram"]["bin_edges"]
    total = np.zeros(len(edges) - 1)
    for c in counts.values():
        total += np.asarray(c)
    return total


def plot_lengths(stats_list: list[dict[str, Any]], path: str | Path, by_source: bool = False) -> Path:
    """Left: distribution of row length (log bins, share of rows) per mixture, or per source of one
    mixture; right: turns per conversation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = mixture_labels(stats_list)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    edges = np.asarray(stats_list[0]["length_histogram"]["bin_edges"], dtype=float)
    if by_source and len(stats_list) == 1:
        stats = stats_list[0]
        colors = _colors(list(stats["sources"]))
        curves = [
            (name, np.asarray(c, dtype=float), colors[name])
            for name, c in stats["length_histogram"]["counts"].items()
        ]
        ax1.set_title(f"{labels[0]}: row length per source")
    else:
        cmap = _colors(labels)
        curves = [
            (label, _mixture_histogram(s), cmap[label]) for label, s in zip(labels, stats_list, strict=True)
        ]
        ax1.set_title("row length per mixture")
    used = np.zeros(len(edges) - 1, dtype=bool)
    for name, counts, color in curves:
        if counts.sum() == 0:
            continue
        share = 100 * counts / counts.sum()
        used |= counts > 0
        ax1.stairs(share, edges, label=name, color=color, linewidth=2)
    if used.any():
        first, last = np.flatnonzero(used)[[0, -1]]
        ax1.set_xlim(edges[max(first - 1, 0)], edges[min(last + 2, len(edges) - 1)])
    ax1.set_xscale("log")
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    ax1.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax1.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax1.xaxis.set_minor_formatter(NullFormatter())
    units = {s["unit"] for s in stats_list}
    ax1.set_xlabel(f"{'/'.join(sorted(units))} per train row (log scale)")
    ax1.set_ylabel("share of rows (%)")
    ax1.grid(alpha=0.25)
    ax1.legend(fontsize=8, frameon=False)

    width = 0.8 / len(stats_list)
    cmap = _colors(labels)
    max_turn = 1
    for i, (label, stats) in enumerate(zip(labels, stats_list, strict=True)):
        hist = stats["split_stats"].get("train", {}).get("turns", {}).get("histogram", {})
        if not hist:
            continue
        turns = np.array([int(k) for k in hist])
        counts = np.array(list(hist.values()), dtype=float)
        max_turn = max(max_turn, int(turns.max()))
        ax2.bar(
            turns + (i - (len(stats_list) - 1) / 2) * width,
            100 * counts / counts.sum(),
            width=width,
            color=cmap[label],
            label=label,
        )
    ax2.set_xticks(range(1, max_turn + 1))
    ax2.set_xlabel("turns per conversation (system excluded)")
    ax2.set_ylabel("share of rows (%)")
    ax2.set_title("turns per conversation")
    ax2.grid(axis="y", alpha=0.25)
    if len(stats_list) > 1:
        ax2.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def mixture_flows(stats_list: list[dict[str, Any]]) -> list[Flow]:
    labels = mixture_labels(stats_list)
    return [
        flow
        for label, s in zip(labels, stats_list, strict=True)
        for flow in source_flows(s.get("source_flow") or {}, prefix=f"{label} / ")
    ]


def plot_mixture_flows(stats_list: list[dict[str, Any]], path: str | Path) -> Path:
    """Per mixture and source: rows in → kept, the dropped rows stacked by reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flows = mixture_flows(stats_list)
    fig, ax = plt.subplots(figsize=(11, 1.8 + 0.4 * len(flows)))
    plot_flows(ax, flows, "per mixture and source: rows in → kept, dropped by reason")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _num(x: float) -> str:
    return f"{x:,.1f}" if isinstance(x, float) and not float(x).is_integer() else f"{int(x):,}"


def compare_markdown(stats_list: list[dict[str, Any]]) -> str:
    labels = mixture_labels(stats_list)
    head = "| | " + " | ".join(f"`{lbl}`" for lbl in labels) + " |"
    rule = "| --- |" + " ---: |" * len(labels)
    two = len(stats_list) == 2
    units = {s["unit"] for s in stats_list}
    unit = units.pop() if len(units) == 1 else None

    def train(s: dict[str, Any]) -> dict[str, Any]:
        return s["split_stats"].get(
            "train",
            {
                "rows": 0,
                "length": {"total": 0, "mean": 0, "p50": 0, "p95": 0},
                "turns": {"mean": 0},
                "languages": {},
            },
        )

    overview = [
        ("kind", [s["kind"] for s in stats_list]),
        ("hash", [f"`{s['hash']}`" for s in stats_list]),
        ("train rows", [f"{s['splits'].get('train', 0):,}" for s in stats_list]),
        ("test rows", [f"{s['splits'].get('test', 0):,}" for s in stats_list]),
        ("sources", [str(len(s["sources"])) for s in stats_list]),
        (f"train {unit or 'length'}", [f"{train(s)['length']['total']:,} {s['unit']}" for s in stats_list]),
        ("mean length / row", [_num(train(s)["length"]["mean"]) for s in stats_list]),
        ("p95 length / row", [_num(train(s)["length"]["p95"]) for s in stats_list]),
        ("mean turns", [f"{train(s)['turns']['mean']:.2f}" for s in stats_list]),
        (
            "rows with code",
            [_pct(train(s).get("rows_with_code", 0) / max(1, train(s)["rows"])) for s in stats_list],
        ),
        ("rows dropped by filters", [f"{sum(s['dropped'].values()):,}" for s in stats_list]),
    ]
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
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in overview]

    share_key = f"share_{unit}" if unit else "share_rows"
    what = unit or "rows"
    sources = _source_order(stats_list)
    lines += [
        "",
        f"## Composition (share of train {what})",
        "",
        head[:-2] + (" | Δ (2nd − 1st) |" if two else " |"),
        rule + (" ---: |" if two else ""),
    ]
    shifts = []
    for name in sources:
        shares = [s["sources"].get(name, {}).get(share_key) for s in stats_list]
        cells = ["—" if v is None else _pct(v) for v in shares]
        if two:
            a, b = (v or 0.0 for v in shares)
            cells.append(f"{100 * (b - a):+.1f} pp")
            shifts.append((abs(b - a), name, a, b))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    lines += ["", "## Programming languages of code blocks (share of blocks, train)", "", head, rule]
    langs: list[str] = []
    for s in stats_list:
        langs += [lang for lang in train(s)["languages"] if lang not in langs]
    for lang in langs:
        cells = []
        for s in stats_list:
            counts = train(s)["languages"]
            total = sum(counts.values())
            cells.append(f"{_pct(counts.get(lang, 0) / total)} ({counts.get(lang, 0):,})" if total else "—")
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    if not langs:
        lines.append("| (no fenced code blocks) |" + " |" * len(labels))

    lines += [
        "",
        "## Rows in → kept, per source",
        "",
        "![flow](flow.png)",
        "",
        *flow_markdown(mixture_flows(stats_list)),
    ]
    lines += ["", "## Rows dropped by filters", "", head, rule]
    reasons: list[str] = []
    for s in stats_list:
        reasons += [r for r in s["dropped"] if r not in reasons]
    for reason in reasons:
        lines.append(
            f"| {reason} | " + " | ".join(f"{s['dropped'].get(reason, 0):,}" for s in stats_list) + " |"
        )
    if not reasons:
        lines.append("| (none) |" + " |" * len(labels))

    notes = []
    for i, s in enumerate(stats_list):
        only = [
            n for n in s["sources"] if all(n not in o["sources"] for j, o in enumerate(stats_list) if j != i)
        ]
        if only:
            notes.append(f"- only in `{labels[i]}`: " + ", ".join(f"`{n}`" for n in only))
    if two:
        for delta, name, a, b in sorted(shifts, reverse=True)[:3]:
            if delta >= 0.01:
                notes.append(f"- `{name}`: {_pct(a)} → {_pct(b)} of train {what}")
        m0, m1 = train(stats_list[0])["length"]["mean"], train(stats_list[1])["length"]["mean"]
        if m0 and unit:
            notes.append(f"- mean row length: {_num(m0)} → {_num(m1)} {unit} ({100 * (m1 - m0) / m0:+.0f}%)")
    if notes:
        lines += ["", "## Differences", "", *notes]
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
