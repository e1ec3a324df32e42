"""What is in a built mixture: per source rows and tokens (characters when no tokenizer is given),
share of the mixture, turns per conversation, length histograms, programming languages of the
code blocks, and what the filters dropped. `mixtune mix stats DIR` prints it; `compare.py` puts
several mixtures side by side.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from mixtures.filters.text import batch_rows

# fence tag -> language name
LANGUAGE_ALIASES = {
    "py": "python",
    "python3": "python",
    "py3": "python",
    "ipython": "python",
    "pycon": "python",
    "js": "javascript",
    "node": "javascript",
    "jsx": "javascript",
    "mjs": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "c++": "cpp",
    "cxx": "cpp",
    "cc": "cpp",
    "hpp": "cpp",
    "h": "c",
    "cs": "csharp",
    "c#": "csharp",
    "rs": "rust",
    "golang": "go",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "console": "shell",
    "shell-session": "shell",
    "ps1": "powershell",
    "rb": "ruby",
    "kt": "kotlin",
    "yml": "yaml",
    "md": "markdown",
    "htm": "html",
    "xml": "html",
    "psql": "sql",
    "postgresql": "sql",
    "mysql": "sql",
    "text": "text",
    "txt": "text",
    "plaintext": "text",
}
_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE
)
# cheap evidence for untagged blocks: (language, pattern, weight)
_HINTS = [
    ("python", r"^\s*def \w+\(.*\)\s*(->.*)?:\s*$", 3),
    ("python", r"^\s*(from [\w.]+ )?import [\w., ]+$", 2),
    ("python", r"\bself\.|\bprint\(|\belif\b|\bNone\b|:\s*$", 1),
    ("javascript", r"\b(const|let|var) \w+ =|=>|\bfunction\s*\w*\(|console\.log\(", 2),
    ("typescript", r"\binterface \w+ \{|: (string|number|boolean)\b", 2),
    ("java", r"\bpublic (static )?(class|void|int)\b|System\.out\.", 3),
    ("cpp", r"#include\s*<\w+(\.h)?>|std::|\bcout\s*<<", 3),
    ("c", r"#include\s*<\w+\.h>|\bprintf\(|\bint main\(", 2),
    ("rust", r"\bfn \w+\(|\blet mut\b|\bimpl\b|println!", 3),
    ("go", r"\bfunc \w+\(|\bpackage main\b|fmt\.Print", 3),
    ("sql", r"(?i)\bselect\b.+\bfrom\b|\binsert into\b|\bcreate table\b", 3),
    ("shell", r"^\s*(\$ )?(sudo |pip |apt(-get)? |cd |ls |echo |export |git |npm |curl )", 2),
    ("html", r"<(html|div|span|body|head|p|a)\b[^>]*>", 2),
    ("json", r"^\s*[\[{]\s*$|^\s*\"\w+\":\s", 1),
]
_HINT_RES = [(lang, re.compile(p, re.MULTILINE), w) for lang, p, w in _HINTS]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(fence tag, body) of every fenced code block."""
    return [(m.group(2), m.group(3)) for m in _FENCE.finditer(text)]


def guess_language(code: str) -> str:
    """Language of an untagged code block by keyword evidence; 'unknown' when nothing fits."""
    scores: Counter[str] = Counter()
    for lang, pattern, weight in _HINT_RES:
        hits = len(pattern.findall(code))
        if hits:
            scores[lang] += weight * min(hits, 5)
    if not scores:
        return "unknown"
    return scores.most_common(1)[0][0]


def block_language(tag: str, code: str) -> str:
    tag = tag.strip().lower()
    if tag:
        return LANGUAGE_ALIASES.get(tag, tag)
    return guess_language(code)


def _trained_messages(row: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The conversation a model trains on: SFT messages, or a preference prompt + its chosen reply."""
    if kind == "sft":
        return list(row["messages"] or [])
    return list(row["prompt"] or []) + list(row["chosen"] or [])


class RowMeasurer:
    """Per-row source, length (tokens or characters), turns and code-block languages (for `map`)."""

    def __init__(self, kind: str, tokenizer: Any = None) -> None:
        self.kind = kind
        self.tokenizer = tokenizer

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        sources, lengths, turns, languages = [], [], [], []
        texts = []
        for row in batch_rows(batch):
            messages = _trained_messages(row, self.kind)
            contents = [m.get("content") or "" for m in messages]
            sources.append(row["source"])
            turns.append(sum(1 for m in messages if m.get("role") != "system"))
            texts.append(contents)
            langs = []
            for content in contents:
                if "```" in content or "~~~" in content:
                    langs += [block_language(tag, body) for tag, body in code_blocks(content)]
            languages.append(langs)
        if self.tokenizer is not None:
            flat = [c for contents in texts for c in contents]
            ids = self.tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
            k = 0
            for contents in texts:
                lengths.append(sum(len(x) for x in ids[k : k + len(contents)]))
                k += len(contents)
        else:
            lengths = [sum(len(c) for c in contents) for contents in texts]
        return {"source": sources, "length": lengths, "turns": turns, "languages": languages}


def _summary(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"total": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0}
    return {
        "total": int(values.sum()),
        "mean": round(float(values.mean()), 2),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": int(values.max()),
    }


# fixed log-spaced edges (8 per decade, 1 .. 10^8) so histograms of different mixtures line up
LENGTH_BIN_EDGES = np.unique(np.round(10 ** (np.arange(0, 65) / 8)).astype(np.int64))


def measure_split(ds: Any, kind: str, tokenizer: Any = None, num_proc: int | None = None) -> dict[str, Any]:
    """Per-row measurements of one split, as numpy arrays and lists."""
    if len(ds) == 0:
        return {
            "source": np.array([], dtype=object),
            "length": np.zeros(0, np.int64),
            "turns": np.zeros(0, np.int64),
            "languages": [],
        }
    from mixtures.filters.stage import effective_num_proc

    out = ds.map(
        RowMeasurer(kind, tokenizer),
        batched=True,
        remove_columns=ds.column_names,
        num_proc=effective_num_proc(len(ds), num_proc),
        load_from_cache_file=False,
        keep_in_memory=True,  # looking at a mixture never writes cache files into its folder
        desc="measuring rows",
    )
    table = out.data
    return {
        "source": np.asarray(table.column("source").to_pylist(), dtype=object),
        "length": table.column("length").to_numpy(),
        "turns": table.column("turns").to_numpy(),
        "languages": table.column("languages").to_pylist(),
    }


def _split_stats(m: dict[str, Any]) -> dict[str, Any]:
    turns = m["turns"]
    langs = Counter(lang for row in m["languages"] for lang in row)
    return {
        "rows": len(m["length"]),
        "length": _summary(m["length"]),
        "turns": {
            **_summary(turns),
            "histogram": {str(k): int(v) for k, v in sorted(Counter(turns.tolist()).items())},
        },
        "languages": dict(langs.most_common()),
        "rows_with_code": int(sum(1 for row in m["languages"] if row)),
    }


def load_tokenizer(name: str | None) -> Any:
    if not name:
        return None
    from mixtures.filters.length import load_tokenizer as _load

    return _load(name)


def mixture_stats(
    directory: str | Path, tokenizer: str | None = None, num_proc: int | None = None
) -> dict[str, Any]:
    """Statistics of a built mixture directory (the train split is the composition that trains;
    test is summarised alongside). Lengths are tokens of `tokenizer`, else characters."""
    from mixtures import load_mixture, read_manifest

    directory = Path(directory)
    manifest = read_manifest(directory)
    kind = manifest["kind"]
    splits = load_mixture(directory)
    tok = load_tokenizer(tokenizer)
    unit = "tokens" if tok is not None else "characters"
    measured = {name: measure_split(splits[name], kind, tok, num_proc) for name in splits}
    train = measured.get("train") or measure_split(splits[next(iter(splits))].select([]), kind)

    manifest_sources = manifest.get("sources") or {}
    names = list(manifest_sources) + sorted(set(train["source"].tolist()) - set(manifest_sources))
    total_rows = max(1, len(train["length"]))
    total_len = max(1, int(train["length"].sum()))
    bins = LENGTH_BIN_EDGES
    sources: dict[str, Any] = {}
    histogram: dict[str, list[int]] = {}
    for name in names:
        mask = train["source"] == name
        lengths, turns = train["length"][mask], train["turns"][mask]
        langs = Counter(
            lang for row, keep in zip(train["languages"], mask, strict=True) if keep for lang in row
        )
        entry = manifest_sources.get(name, {})
        test_rows = int((measured["test"]["source"] == name).sum()) if "test" in measured else 0
        sources[name] = {
            "rows": int(mask.sum()),
            unit: int(lengths.sum()),
            "share_rows": round(float(mask.sum()) / total_rows, 6),
            f"share_{unit}": round(float(lengths.sum()) / total_len, 6),
            "turns_mean": round(float(turns.mean()), 3) if len(turns) else 0.0,
            "length": _summary(lengths),
            "languages": dict(langs.most_common()),
            "test_rows": test_rows,
            "rows_in": entry.get("rows_in"),
            "dropped": entry.get("dropped", {}),
        }
        histogram[name] = np.histogram(lengths, bins=bins)[0].tolist()

    dropped_total: Counter[str] = Counter()
    for entry in sources.values():
        dropped_total.update(entry["dropped"] or {})
    filters = manifest.get("filters") or {}
    return {
        "name": manifest["name"],
        "kind": kind,
        "hash": manifest.get("hash", ""),
        "path": str(directory.resolve()),
        "unit": unit,
        "tokenizer": tokenizer,
        "splits": {name: len(splits[name]) for name in splits},
        "split_stats": {name: _split_stats(m) for name, m in measured.items()},
        "sources": sources,
        "length_histogram": {"bin_edges": bins.tolist(), "counts": histogram},
        "dropped": dict(dropped_total.most_common()),
        "source_flow": {
            name: {k: e.get(k) for k in ("rows_in", "kept", "dropped", "test")}
            for name, e in manifest_sources.items()
        },
        "filter_stats": filters.get("stats", {}) if isinstance(filters, dict) else {},
    }


# ---------------------------------------------------------------- rendering


def _fmt(n: float) -> str:
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.1f}"
    return f"{int(n):,}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def stats_markdown(stats: dict[str, Any], images: bool = True) -> str:
    """The markdown report of one mixture's statistics."""
    unit = stats["unit"]
    train = stats["split_stats"].get(
        "train", {"rows": 0, "length": _summary(np.zeros(0)), "turns": {"mean": 0}}
    )
    lines = [
        f"# Mixture stats: `{stats['name']}` ({stats['kind']}, `{stats['hash']}`)",
        "",
        "- splits: " + ", ".join(f"{k} **{v:,}**" for k, v in stats["splits"].items()),
        f"- train {unit}: **{train['length']['total']:,}** (mean {_fmt(train['length']['mean'])}, "
        f"p95 {_fmt(train['length']['p95'])}, max {train['length']['max']:,} per row)",
        f"- turns per conversation (train): mean {train['turns']['mean']:.2f}, max {train['turns'].get('max', 0)}",
        f"- length unit: {unit}"
        + (f" of `{stats['tokenizer']}`" if stats.get("tokenizer") else " (no tokenizer given)"),
        "",
        "## Sources (train)",
        "",
        f"| source | rows | share of rows | {unit} | share of {unit} | mean turns | mean length | p95 length | test rows | rows in | dropped by filters |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, s in stats["sources"].items():
        dropped = ", ".join(f"{r} {n}" for r, n in (s["dropped"] or {}).items()) or "-"
        rows_in = "-" if s["rows_in"] is None else f"{s['rows_in']:,}"
        lines.append(
            f"| {name} | {s['rows']:,} | {_pct(s['share_rows'])} | {s[unit]:,} | {_pct(s[f'share_{unit}'])} | "
            f"{s['turns_mean']:.2f} | {_fmt(s['length']['mean'])} | {_fmt(s['length']['p95'])} | {s['test_rows']:,} | {rows_in} | {dropped} |"
        )
    langs = train.get("languages", {})
    lines += ["", "## Programming languages of code blocks (train)", ""]
    if langs:
        total = sum(langs.values())
        lines += [
            f"{train.get('rows_with_code', 0):,} of {train['rows']:,} rows have fenced code blocks; {total:,} blocks "
            "(language from the fence tag, else guessed from keywords).",
            "",
            "| language | blocks | share |",
            "| --- | ---: | ---: |",
        ]
        lines += [f"| {lang} | {n:,} | {_pct(n / total)} |" for lang, n in langs.items()]
    else:
        lines.append("No fenced code blocks.")
    lines += ["", "## Filters", ""]
    if stats["dropped"]:
        lines += ["| reason | rows dropped |", "| --- | ---: |"]
        lines += [f"| {r} | {n:,} |" for r, n in stats["dropped"].items()]
    else:
        lines.append("No rows were dropped.")
    for split, fstats in (stats.get("filter_stats") or {}).items():
        if fstats:
            lines += ["", f"Filter statistics ({split}): `{json.dumps(fstats, sort_keys=True)}`"]
    if images:
        lines += ["", "![composition](composition.png)", "", "![lengths](lengths.png)"]
    return "\n".join(lines) + "\n"


def write_stats(stats: dict[str, Any], out: str | Path) -> Path:
    """Write report.md, stats.json, composition.png and lengths.png for one mixture into `out`."""
    from mixtures.compare import plot_composition, plot_lengths

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    plot_composition([stats], out / "composition.png")
    plot_lengths([stats], out / "lengths.png", by_source=True)
    (out / "report.md").write_text(stats_markdown(stats), encoding="utf-8")
    return out
