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


# --- Other benchmarks: MBPP, MultiPL-E, HumanEval-X ----------------------------------------

LANGUAGE_NAMES = {"python": "Python", "js": "JavaScript", "cpp": "C++", "java": "Java", "rust": "Rust"}

# MBPP's few-shot prompt (Austin et al. 2021): tasks 2, 3 and 4 of its prompt split as
# examples, then the task; the model answers between [BEGIN] and [DONE].
# Rows from google-research/google-research mbpp/mbpp.jsonl (CC-BY-4.0).
MBPP_SHOTS = (
    (
        "Write a function to find the similar elements from the given two tuple lists.",
        (
            "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
            "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
            "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
        ),
        "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res) ",
    ),
    (
        "Write a python function to identify non-prime numbers.",
        (
            "assert is_not_prime(2) == False",
            "assert is_not_prime(10) == True",
            "assert is_not_prime(35) == True",
        ),
        "import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):\r\n"
        "        if n % i == 0:\r\n            result = True\r\n    return result",
    ),
    (
        "Write a function to find the largest integers from a given list of numbers using heap queue algorithm.",
        (
            "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ",
            "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] ",
            "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]",
        ),
        "import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n  return largest_nums",
    ),
)
MBPP_STOPS = ("[DONE]",)


def _mbpp_task(text: str, tests: tuple[str, ...] | list[str]) -> str:
    return (
        f"You are an expert Python programmer, and here is your task: {text} "
        f"Your code should pass these tests:\n\n" + "\n".join(tests) + "\n"
    )


def mbpp_prompt(problem: Problem) -> str:
    shots = "".join(f"{_mbpp_task(t, tests)}[BEGIN]\n{code}\n[DONE]\n" for t, tests, code in MBPP_SHOTS)
    return shots + _mbpp_task(problem.description, problem.test_list) + "[BEGIN]\n"


# HumanEval-X prompts end inside the function; generation stops where it closes, and the
# closing text is put back (C++/JS: the function's brace; Java: the method's and the class's).
HUMANEVAL_X_STOPS = {
    "cpp": ("\n}",),
    "js": ("\n}",),
    "java": ("\n    }\n",),
    "rust": ("\n}",),
    "python": PLAIN_STOPS,
}
HUMANEVAL_X_CLOSE = {"cpp": "\n}\n", "js": "\n}\n", "java": "\n    }\n}\n", "rust": "\n}\n", "python": ""}


def base_prompt(problem: Problem) -> str:
    """What a base model continues, per benchmark."""
    if problem.shape == "mbpp":
        return mbpp_prompt(problem)
    if problem.shape in ("multiple", "humaneval-x") and problem.language != "python":
        return problem.prompt
    return plain_prompt(problem)


def base_stops(problem: Problem) -> tuple[str, ...]:
    if problem.shape == "mbpp":
        return MBPP_STOPS
    if problem.shape == "multiple":
        return problem.stop_tokens or PLAIN_STOPS
    if problem.shape == "humaneval-x":
        return HUMANEVAL_X_STOPS[problem.language]
    return PLAIN_STOPS


def general_chat_messages(problem: Problem) -> list[dict[str, str]]:
    """The `chat` style for MBPP and for code in any language."""
    if problem.shape == "mbpp":
        content = (
            f"{problem.description}\nYour code should pass these tests:\n\n"
            + "\n".join(problem.test_list)
            + "\n\nReply with the code in one ```python code block."
        )
        return [{"role": "user", "content": content}]
    name = LANGUAGE_NAMES[problem.language]
    tag = (
        "cpp" if problem.language == "cpp" else problem.language if problem.language != "js" else "javascript"
    )
    content = (
        f"Complete the following {name} code. Reply with the whole code, starting with the code given, "
        f"in one ```{tag} code block.\n\n```{tag}\n{problem.prompt.strip()}\n```"
    )
    return [{"role": "user", "content": content}]
