"""Every figure of the mixtures stage, drawn with matplotlib (Agg) and saved without a
timestamp, so a rebuilt mixture's figures are byte-identical:

- `plot_build_summary`: a build's `composition.png` (rows per source split into distinct rows,
  upsampled repeats and test rows; length per source; rows in -> kept per source);
- `plot_composition`: `mix stats` / `mix compare` composition (each source's share of rows and
  of tokens or characters, one bar per mixture);
- `plot_lengths`: row length and turns distributions;
- `plot_mixture_flows`: rows in -> kept, dropped by reason, per mixture and source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mixtures.flow import Flow, plot_flows, source_flows


def mixture_labels(stats_list: list[dict[str, Any]]) -> list[str]:
    """Mixture names, made unique with their hash when two mixtures share a name."""
    names = [s["name"] for s in stats_list]
    return [
        f"{n}@{s['hash'][:8]}" if names.count(n) > 1 else n for n, s in zip(names, stats_list, strict=True)
    ]


def source_order(stats_list: list[dict[str, Any]]) -> list[str]:
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
    sources = source_order(stats_list)
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
    return _save(fig, path)


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
    _length_panel(ax1, stats_list, labels, by_source)
    _turns_panel(ax2, stats_list, labels)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    """Save without a timestamp (byte-identical on a rebuild) and free the figure."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def _length_panel(ax1: Any, stats_list: list[dict[str, Any]], labels: list[str], by_source: bool) -> None:
    """Share of rows per log-spaced length bin, one curve per mixture (or per source of one)."""
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


def _turns_panel(ax2: Any, stats_list: list[dict[str, Any]], labels: list[str]) -> None:
    """Share of rows per number of turns, grouped bars, one colour per mixture."""
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
    return _save(fig, path)


def plot_build_summary(manifest: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = manifest["sources"]
    names = list(sources)
    unique = [min(e["train_rows"], e["train_pool"]) for e in sources.values()]
    repeats = [e["train_rows"] - u for e, u in zip(sources.values(), unique, strict=True)]
    tests = [e["test"]["rows"] for e in sources.values()]
    total = max(1, manifest["splits"]["train"])
    field = {"sft": "messages_chars", "completion": "content_chars"}.get(manifest["kind"], "chosen_chars")
    by_source = manifest["stats"]["train"]["by_source"]

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(18, 0.6 * len(names) + 2.2), sharey=True)
    y = list(range(len(names)))
    ax1.barh(y, unique, color="#4C72B0", label="train: distinct rows")
    ax1.barh(y, repeats, left=unique, color="#8FB0E0", label="train: upsampled repeats")
    ax1.barh(
        y, tests, left=[u + r for u, r in zip(unique, repeats, strict=True)], color="#DD8452", label="test"
    )
    for yi, (u, r, t) in enumerate(zip(unique, repeats, tests, strict=True)):
        ax1.text(u + r + t, yi, f"  {100 * (u + r) / total:.1f}%", va="center", fontsize=9)
    ax1.set_yticks(y, names)
    ax1.invert_yaxis()
    ax1.set_xlabel("rows")
    ax1.set_title(f"{manifest['name']} ({manifest['kind']}, {manifest['hash'][:8]}): rows per source")
    ax1.legend(loc="lower right", fontsize=8)
    for yi, name in enumerate(names):
        s = by_source.get(name, {}).get(field)
        if s and s["max"]:
            ax2.plot([s["p50"], s["p95"]], [yi, yi], color="#55A868", lw=6, solid_capstyle="butt")
            ax2.plot([s["max"]], [yi], "|", color="#C44E52", ms=14)
            ax2.plot([s["mean"]], [yi], "o", color="black", ms=4)
    ax1.set_xlim(0, 1.18 * max([u + r + t for u, r, t in zip(unique, repeats, tests, strict=True)] + [1]))
    lows = [by_source[n][field]["p50"] for n in names if n in by_source and by_source[n][field]["max"]]
    highs = [by_source[n][field]["max"] for n in names if n in by_source and by_source[n][field]["max"]]
    if lows:
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        ax2.set_xscale("log")
        ax2.set_xlim(
            max(1, 0.6 * min(lows + [by_source[n][field]["mean"] for n in names if n in by_source])),
            1.6 * max(highs),
        )
        ax2.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax2.xaxis.set_major_formatter(ScalarFormatter())
        ax2.xaxis.set_minor_formatter(NullFormatter())
        ax2.grid(axis="x", alpha=0.3)
    ax2.set_xlabel(f"{field.replace('_', ' ')} per train row (bar p50–p95, dot mean, tick max)")
    ax2.set_title("length per source")
    plot_flows(ax3, source_flows(sources))
    ax3.set_yticks(y, names)
    fig.tight_layout()
    _save(fig, path)
