"""Where each source's rows went: rows in → kept, the rest dropped by reason.

Shared by `mix build`'s report (one bar per source) and `mix compare` (one bar per source of
each mixture), so a source that went from 500 rows to 11 never looks like one that lost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEPT_COLOR = "#55A868"


@dataclass
class Flow:
    """One source (of one mixture): rows read, rows kept, dropped rows per reason."""

    label: str
    rows_in: int
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)


def source_flows(sources: dict[str, Any], prefix: str = "") -> list[Flow]:
    """Flows of a manifest's `sources` (train side plus the source's own test split, if any)."""
    flows = []
    for name, entry in sources.items():
        rows_in, kept = int(entry.get("rows_in") or 0), int(entry.get("kept") or 0)
        dropped = dict(entry.get("dropped") or {})
        test = entry.get("test") or {}
        if test.get("from") == "own split":
            rows_in += int(test.get("rows_in") or 0)
            kept += int(test.get("kept") or 0)
            for reason, n in (test.get("dropped") or {}).items():
                dropped[reason] = dropped.get(reason, 0) + int(n)
        flows.append(Flow(f"{prefix}{name}", rows_in, kept, dropped))
    return flows


def reasons_of(flows: list[Flow]) -> list[str]:
    """Every drop reason, largest total first (stable colours and column order)."""
    totals: dict[str, int] = {}
    for f in flows:
        for reason, n in f.dropped.items():
            totals[reason] = totals.get(reason, 0) + n
    return sorted(totals, key=lambda r: (-totals[r], r))


def flow_markdown(flows: list[Flow]) -> list[str]:
    """A table: source | rows in | kept | kept % | one column per drop reason."""
    reasons = reasons_of(flows)
    lines = [
        "| source | rows in | kept | kept % | " + " | ".join(reasons) + (" |" if reasons else ""),
        "| --- | ---: | ---: | ---: |" + " ---: |" * len(reasons),
    ]
    for f in flows:
        share = f"{100 * f.kept / f.rows_in:.1f}%" if f.rows_in else "—"
        cells = [str(f.dropped.get(r, 0)) for r in reasons]
        lines.append(
            f"| {f.label} | {f.rows_in} | {f.kept} | {share} | " + " | ".join(cells) + (" |" if cells else "")
        )
    return lines


def plot_flows(ax: Any, flows: list[Flow], title: str = "rows in → kept, dropped by reason") -> None:
    """Horizontal stacked bars: kept, then each drop reason; the bar's length is the rows in."""
    import matplotlib

    reasons = reasons_of(flows)
    cmap = matplotlib.colormaps["tab10"]
    colors = {r: cmap((i + 3) % cmap.N) for i, r in enumerate(reasons)}
    y = list(range(len(flows)))
    ax.barh(y, [f.kept for f in flows], color=KEPT_COLOR, label="kept")
    left = [f.kept for f in flows]
    for reason in reasons:
        widths = [f.dropped.get(reason, 0) for f in flows]
        ax.barh(y, widths, left=left, color=colors[reason], label=f"dropped: {reason}")
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for yi, f in enumerate(flows):
        ax.text(max(f.rows_in, 0), yi, f"  {f.rows_in} → {f.kept}", va="center", fontsize=8)
    ax.set_yticks(y, [f.label for f in flows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3 * max([f.rows_in for f in flows] + [1]))
    ax.set_xlabel("rows read")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
