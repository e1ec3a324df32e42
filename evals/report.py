"""Render a comparison (from `evals.compare.compare_runs`) as a markdown leaderboard, an HTML
page and a plot of scores with their confidence intervals; the one home of the comparison's
files (their names, and writing them with the comparison's data as JSON)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

LEADERBOARD_MD = "leaderboard.md"
LEADERBOARD_HTML = "leaderboard.html"
SCORES_PNG = "scores.png"
COMPARISON_JSON = "comparison.json"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _composition(m: dict[str, Any]) -> str:
    comp = m.get("composition") or {}
    return ", ".join(f"{k}: {v}" for k, v in comp.items()) if isinstance(comp, dict) else str(comp)


def _column(cmp: dict[str, Any], bench: str) -> str:
    """A benchmark's column name, with its language when the name does not say it."""
    lang = (cmp.get("languages") or {}).get(bench)
    if not lang or lang == "python" or lang in bench.lower():
        return bench
    return f"{bench} ({lang})"


def metric_of(cmp: dict[str, Any], bench: str) -> str:
    """A column's metric: pass@k, or exact match / edit similarity for repo:PATH (whose column
    names already say it)."""
    return (cmp.get("metrics") or {}).get(bench, cmp["metric"])


def _heading(cmp: dict[str, Any], bench: str) -> str:
    metric = metric_of(cmp, bench)
    return _column(cmp, bench) if metric in bench else f"{_column(cmp, bench)} {metric}"


def leaderboard_rows(cmp: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        "#",
        "run",
        *[f"{_heading(cmp, b)} [95% CI]" for b in cmp["benchmarks"]],
        "win rate",
        "problems",
        "samples/problem",
    ]
    rows = []
    for i, run in enumerate(cmp["runs"], start=1):
        cells = [str(i), run["label"]]
        for b in cmp["benchmarks"]:
            s = run["scores"].get(b)
            cells.append(f"{_pct(s['score'])} [{_pct(s['low'])}, {_pct(s['high'])}]" if s else "—")
        wr = run["win_rate"]
        cells.append(f"{wr:.2f}" if wr is not None else "—")
        scores = list(run["scores"].values())
        cells.append(" / ".join(str(s["problems"]) for s in scores) or "—")
        cells.append(" / ".join(f"{s['samples_per_problem']:g}" for s in scores) or "—")
        rows.append(cells)
    return header, rows


def pair_rows(cmp: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["benchmark", "A", "B", "shared", "A − B [95% CI]", "test", "p", "p (Holm)", "verdict"]
    rows = []
    for p in cmp["pairs"]:
        test = p["test"] + (f" ({p['a_only']} vs {p['b_only']})" if p["p_mcnemar"] is not None else "")
        if p["significant"]:
            verdict = f"{p['a']} better" if p["diff"] > 0 else f"{p['b']} better"
        else:
            verdict = "no significant difference"
        rows.append(
            [
                p["benchmark"],
                p["a"],
                p["b"],
                str(p["shared"]),
                f"{100 * p['diff']:+.1f} [{100 * p['low']:+.1f}, {100 * p['high']:+.1f}]",
                test,
                _p(p["p_value"]),
                _p(p["p_holm"]),
                verdict,
            ]
        )
    return header, rows


def mixture_rows(cmp: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["run", "stage", "mixture", "hash", "composition (rows)"]
    rows = []
    for run in cmp["runs"]:
        mixtures = run["mixtures"]
        if not mixtures:
            base = (run.get("lineage") or {}).get("base_model")
            rows.append([run["label"], "—", "no mixtune lineage" if not base else f"base {base}", "—", "—"])
        for m in mixtures:
            rows.append(
                [
                    run["label"],
                    str(m.get("stage") or "—"),
                    str(m.get("name") or "—"),
                    str(m.get("hash") or "—")[:12],
                    _composition(m),
                ]
            )
    return header, rows


def training_rows(cmp: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Runs evaluated with --check-training-data: the share of samples found in the model's
    training mixtures, and where the first ones came from."""
    header = ["run", "benchmark", "found in training data", "checked samples", "first found (source, row)"]
    rows = []
    for run in cmp["runs"]:
        for bench, check in (run.get("training_data") or {}).items():
            rate = "—" if check["rate"] is None else f"{_pct(check['rate'])}% ({check['found']})"
            where = "; ".join(
                f"{e['task_id']}: {e['mixture']} / {e['source']} row {e['row']} ({e['row_id']})"
                for e in check["examples"]
            )
            rows.append([run["label"], bench, rate, str(check["checked"]), where or "—"])
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    return "\n".join(lines)


def _intro(cmp: dict[str, Any]) -> str:
    return (
        f"{len(cmp['runs'])} runs · metric {cmp['metric']} (%; repo:PATH: exact match and edit similarity, "
        f"%) · 95% percentile-bootstrap CIs over problems "
        f"({cmp['resamples']} resamples) · pairs tested on shared problems (exact McNemar when both runs drew "
        f"one sample per problem, else paired bootstrap), Holm-adjusted, significant at {cmp['alpha']} · win rate: "
        "the Big Code Models Leaderboard's: per benchmark, num_models - (rank - 1) (ties share the average "
        "rank), averaged over benchmarks (the best of N runs everywhere scores N)."
    )


def markdown(cmp: dict[str, Any], plot_name: str = SCORES_PNG) -> str:
    parts = [
        "# Leaderboard",
        "",
        _intro(cmp),
        "",
        _md_table(*leaderboard_rows(cmp)),
        "",
        f"![scores]({plot_name})",
        "",
    ]
    parts += ["## Paired comparisons", ""]
    header, rows = pair_rows(cmp)
    parts += [_md_table(header, rows) if rows else "Only one run per benchmark: nothing to pair.", ""]
    parts += ["## Mixtures behind each run", "", _md_table(*mixture_rows(cmp)), ""]
    header, rows = training_rows(cmp)
    if rows:
        parts += ["## Samples found in training data", "", _md_table(header, rows), ""]
    return "\n".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_page(cmp: dict[str, Any], plot_name: str = SCORES_PNG) -> str:
    pairs_header, pairs = pair_rows(cmp)
    found_header, found = training_rows(cmp)
    found_html = f"<h2>Samples found in training data</h2>{_html_table(found_header, found)}" if found else ""
    style = (
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}"
        "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Leaderboard</title><style>{style}</style></head><body>"
        f"<h1>Leaderboard</h1><p>{html.escape(_intro(cmp))}</p>{_html_table(*leaderboard_rows(cmp))}"
        f"<img src='{html.escape(plot_name)}' alt='scores with 95% confidence intervals'>"
        f"<h2>Paired comparisons</h2>{_html_table(pairs_header, pairs) if pairs else '<p>Only one run per benchmark.</p>'}"
        f"<h2>Mixtures behind each run</h2>{_html_table(*mixture_rows(cmp))}{found_html}</body></html>\n"
    )


def plot(cmp: dict[str, Any], path: Path) -> Path:
    """One panel per benchmark: each run's score as a point with its 95% CI as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = cmp["benchmarks"]
    labels = [r["label"] for r in cmp["runs"]]
    height = max(2.5, 0.55 * len(labels) + 1.2)
    fig, axes = plt.subplots(
        1, len(benches), figsize=(5.5 * len(benches), height), squeeze=False, sharey=True
    )
    for ax, bench in zip(axes[0], benches, strict=True):
        ys, xs, lo, hi = [], [], [], []
        for y, run in enumerate(cmp["runs"]):
            s = run["scores"].get(bench)
            if s:
                ys.append(y)
                xs.append(100 * s["score"])
                lo.append(100 * (s["score"] - s["low"]))
                hi.append(100 * (s["high"] - s["score"]))
        ax.errorbar(
            xs, ys, xerr=[lo, hi], fmt="o", color="#1f77b4", ecolor="#7aa6d6", elinewidth=3, capsize=4
        )
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{x:.1f}", (x, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8
            )
        lang = (cmp.get("languages") or {}).get(bench, "")
        metric = metric_of(cmp, bench)
        ax.set_title(
            f"{_column(cmp, bench)}{'' if lang in _column(cmp, bench) else f' [{lang}]'}\n{metric} (95% CI)"
        )
        ax.set_xlabel(f"{metric} (%)")
        ax.set_xlim(-4, 104)  # points at 0 or 100 stay whole, with their labels
        ax.grid(axis="x", alpha=0.3)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
    axes[0][0].set_ylim(len(labels) - 0.5, -0.8)  # best first, room for the top label
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def write_report(cmp: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / LEADERBOARD_MD,
        "html": out_dir / LEADERBOARD_HTML,
        "plot": out_dir / SCORES_PNG,
        "json": out_dir / COMPARISON_JSON,
    }
    paths["markdown"].write_text(markdown(cmp), encoding="utf-8")
    paths["html"].write_text(html_page(cmp), encoding="utf-8")
    plot(cmp, paths["plot"])
    paths["json"].write_text(json.dumps(cmp, indent=2, default=str) + "\n", encoding="utf-8")
    return paths
