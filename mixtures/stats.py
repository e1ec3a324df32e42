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
import pyarrow as pa
import pyarrow.compute as pc

from mixtune.tokenizer import load_tokenizer
from mixtures.filters.verdicts import effective_num_proc

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


# ---------------------------------------------------------------- measuring rows
#
# One definition of each number, used by the build (the manifest's `stats`) and by `mix stats`:
# - chars: characters of the message contents of a conversation;
# - tokens: the sum of each message content's tokens (no special tokens, no separators);
# - turns: messages other than the system prompt;
# - p50 / p95: the nearest-rank percentile, so it is always a length some row has.

BATCH = 20_000


def summary(values: np.ndarray) -> dict[str, float | int]:
    """total, mean, p50, p95 and max of per-row numbers."""
    if values.size == 0:
        return {"total": 0, "mean": 0.0, "p50": 0, "p95": 0, "max": 0}
    return {
        "total": int(values.sum()),
        "mean": round(float(values.mean()), 2),
        "p50": int(np.percentile(values, 50, method="nearest")),
        "p95": int(np.percentile(values, 95, method="nearest")),
        "max": int(values.max()),
    }


def _combined(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def conversation_measures(column: pa.Array, tokenizer: Any = None) -> dict[str, np.ndarray]:
    """Per row of a list-of-messages column: `chars`, `turns` and (with a tokenizer) `tokens`,
    computed with Arrow compute over the flattened messages."""
    n = len(column)
    flat = pc.list_flatten(column)
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)

    def per_row(values: Any) -> np.ndarray:
        return np.bincount(parents, weights=values, minlength=n).astype(np.int64)

    if len(flat) == 0:
        zeros = np.zeros(n, dtype=np.int64)
        return {"chars": zeros, "turns": zeros, **({"tokens": zeros} if tokenizer is not None else {})}
    contents = pc.fill_null(pc.struct_field(flat, "content"), "")
    not_system = pc.not_equal(pc.fill_null(pc.struct_field(flat, "role"), ""), "system")
    out = {
        "chars": per_row(pc.utf8_length(contents).to_numpy(zero_copy_only=False)),
        "turns": per_row(not_system.to_numpy(zero_copy_only=False).astype(np.int64)),
    }
    if tokenizer is not None:
        ids = tokenizer(contents.to_pylist(), add_special_tokens=False)["input_ids"]
        out["tokens"] = per_row(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)))
    return out


def file_measures(column: pa.Array, tokenizer: Any = None) -> dict[str, np.ndarray]:
    """Per row of a text column (completion files): `chars`, `bytes`, `lines` (and `tokens`)."""
    text = pc.fill_null(column, "")
    out = {
        "chars": pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64),
        "bytes": pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64),
        "lines": pc.count_substring(text, "\n").to_numpy(zero_copy_only=False).astype(np.int64),
    }
    if tokenizer is not None:
        ids = tokenizer(text.to_pylist(), add_special_tokens=False)["input_ids"] if len(text) else []
        out["tokens"] = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    return out


def trained_fields(kind: str) -> tuple[str, ...]:
    """The conversation a model trains on: SFT messages, or a preference prompt + its chosen reply."""
    if kind == "completion":
        return ("content",)
    return ("messages",) if kind == "sft" else ("prompt", "chosen")


def measured_fields(kind: str) -> tuple[str, ...]:
    """The columns whose lengths the manifest records."""
    if kind == "completion":
        return ("content",)
    return ("messages",) if kind == "sft" else ("prompt", "chosen", "rejected")


def _measures(kind: str, column: pa.Array, tokenizer: Any) -> dict[str, np.ndarray]:
    if kind == "completion":
        return file_measures(column, tokenizer)
    return conversation_measures(column, tokenizer)


def split_lengths(ds: Any, kind: str, order: list[str], tokenizer: Any = None) -> dict[str, Any]:
    """The manifest's length statistics of one split: {"all": {...}, "by_source": {name: {...}}},
    sources in `order`; `<field>_chars`, `<field>_turns` (and `<field>_tokens`) per measured field.
    Streams over Arrow record batches, so it runs on splits of any size."""
    metrics: dict[str, list[np.ndarray]] = {}
    sources: list[np.ndarray] = []
    languages: list[np.ndarray] = []
    known = pa.array(order, type=pa.string())
    for batch in ds.with_format("arrow").iter(batch_size=BATCH):
        # sources as small integer codes (index in `order`), not one Python string per row
        codes = pc.index_in(batch.column("source"), value_set=known).fill_null(-1)
        sources.append(codes.to_numpy(zero_copy_only=False).astype(np.int32))
        for f in measured_fields(kind):
            for name, values in _measures(kind, _combined(batch.column(f)), tokenizer).items():
                metrics.setdefault(f"{f}_{name}", []).append(values)
        if kind == "completion":
            languages.append(batch.column("language").to_numpy(zero_copy_only=False))
    names = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int32)
    values = {k: np.concatenate(v) for k, v in metrics.items()}

    langs = np.concatenate(languages) if languages else None

    def measure(mask: np.ndarray | None) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": int(names.size if mask is None else mask.sum())}
        for key, arr in values.items():
            out[key] = summary(arr if mask is None else arr[mask])
        if langs is not None:  # completion: files per language
            picked = langs if mask is None else langs[mask]
            out["languages"] = dict(Counter(picked.tolist()).most_common())
        return out

    return {
        "all": measure(None),
        "by_source": {s: measure(names == i) for i, s in enumerate(order) if (names == i).any()},
    }


def _languages(column: pa.Array, n: int) -> list[list[str]]:
    """Languages of the fenced code blocks of each row's messages."""
    found: list[list[str]] = [[] for _ in range(n)]
    flat = pc.list_flatten(column)
    if len(flat) == 0:
        return found
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    contents = pc.fill_null(pc.struct_field(flat, "content"), "")
    fenced = pc.or_(pc.match_substring(contents, "```"), pc.match_substring(contents, "~~~"))
    for i in np.flatnonzero(fenced.to_numpy(zero_copy_only=False)):
        text = contents[int(i)].as_py()
        found[parents[i]] += [block_language(tag, body) for tag, body in code_blocks(text)]
    return found


class RowMeasurer:
    """Per-row source, length (tokens or characters), turns and code-block languages of the trained
    conversation (for `Dataset.map` over Arrow batches)."""

    def __init__(self, kind: str, tokenizer: Any = None) -> None:
        self.kind = kind
        self.tokenizer = tokenizer

    def __call__(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        length, turns = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        languages: list[list[str]] = [[] for _ in range(n)]
        if self.kind == "completion":
            column = _combined(batch.column("content"))
            measures = file_measures(column, self.tokenizer)
            length += measures["tokens" if self.tokenizer is not None else "chars"]
            turns += 1
            languages = [[lang] for lang in batch.column("language").to_pylist()]
        for f in trained_fields(self.kind) if self.kind != "completion" else ():
            column = _combined(batch.column(f))
            measures = conversation_measures(column, self.tokenizer)
            length += measures["tokens" if self.tokenizer is not None else "chars"]
            turns += measures["turns"]
            for row, langs in zip(languages, _languages(column, n), strict=True):
                row += langs
        return pa.table(
            {
                "source": batch.column("source"),
                "length": length,
                "turns": turns,
                "languages": pa.array(languages, type=pa.list_(pa.string())),
            }
        )


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
    out = ds.with_format("arrow").map(
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
        "length": summary(m["length"]),
        "turns": {
            **summary(turns),
            "histogram": {str(k): int(v) for k, v in sorted(Counter(turns.tolist()).items())},
        },
        "languages": dict(langs.most_common()),
        "rows_with_code": int(sum(1 for row in m["languages"] if row)),
    }


def mixture_stats(
    directory: str | Path, tokenizer: str | None = None, num_proc: int | None = None
) -> dict[str, Any]:
    """Statistics of a built mixture directory (the train split is the composition that trains;
    test is summarised alongside). Lengths are tokens of `tokenizer`, else characters."""
    from mixtune.built_mixture import load_mixture
    from mixtune.manifest import read_manifest

    directory = Path(directory)
    manifest = read_manifest(directory)
    kind = manifest["kind"]
    splits = load_mixture(directory)
    tok = load_tokenizer(tokenizer, "--tokenizer")
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
            "length": summary(lengths),
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


def _language_lines(train: dict[str, Any], kind: str) -> list[str]:
    """Files per language (completion: a row is one file), else languages of fenced code blocks."""
    langs = train.get("languages", {})
    total = sum(langs.values())
    if kind == "completion":
        lines = [
            "",
            "## Files by language (train)",
            "",
            "| language | files | share |",
            "| --- | ---: | ---: |",
        ]
        return lines + [f"| {lang} | {n:,} | {_pct(n / total)} |" for lang, n in langs.items()]
    lines = ["", "## Programming languages of code blocks (train)", ""]
    if not langs:
        return [*lines, "No fenced code blocks."]
    lines += [
        f"{train.get('rows_with_code', 0):,} of {train['rows']:,} rows have fenced code blocks; {total:,} blocks "
        "(language from the fence tag, else guessed from keywords).",
        "",
        "| language | blocks | share |",
        "| --- | ---: | ---: |",
    ]
    return lines + [f"| {lang} | {n:,} | {_pct(n / total)} |" for lang, n in langs.items()]


def stats_markdown(stats: dict[str, Any], images: bool = True) -> str:
    """The markdown report of one mixture's statistics."""
    unit = stats["unit"]
    train = stats["split_stats"].get(
        "train", {"rows": 0, "length": summary(np.zeros(0)), "turns": {"mean": 0}}
    )
    lines = [
        f"# Mixture stats: `{stats['name']}` ({stats['kind']}, `{stats['hash']}`)",
        "",
        "- splits: " + ", ".join(f"{k} **{v:,}**" for k, v in stats["splits"].items()),
        f"- train {unit}: **{train['length']['total']:,}** (mean {_fmt(train['length']['mean'])}, "
        f"p95 {_fmt(train['length']['p95'])}, max {train['length']['max']:,} per row)",
        f"- turns per conversation (train): mean {train['turns']['mean']:.2f}, max {train['turns'].get('max', 0)}"
        if stats["kind"] != "completion"
        else "- one row per file (completion mixture)",
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
    lines += _language_lines(train, stats["kind"])
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
    from mixtures.plots import plot_composition, plot_lengths

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    plot_composition([stats], out / "composition.png")
    plot_lengths([stats], out / "lengths.png", by_source=True)
    (out / "report.md").write_text(stats_markdown(stats), encoding="utf-8")
    return out
