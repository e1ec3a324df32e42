"""From what a model wrote to a program that passes when the model was right."""

from __future__ import annotations

import pytest

from evals import extract, prompts
from evals.benchmarks import Problem
from evals.execution import check_program

PROBLEM = Problem(
    task_id="T/0",
    prompt='from typing import List\n\n\ndef helper(x):\n    return x * 2\n\n\ndef double_all(xs: List[int]) -> List[int]:\n    """Double every number.\n    >>> double_all([1, 2])\n    [2, 4]\n    """\n',
    entry_point="double_all",
    test="def check(candidate):\n    assert candidate([1, 2]) == [2, 4]\n    assert candidate([]) == []\n",
)


def runs(completion: str) -> bool:
    namespace: dict = {}
    try:
        exec(check_program(PROBLEM, completion), namespace)
    except Exception:
        return False
    return True


def test_fenced_full_function_replaces_the_stub_and_keeps_prompt_helpers():
    answer = (
        "Sure! Here is the function:\n\n```python\ndef double_all(xs):\n    return [helper(x) for x in xs]\n```\n"
        "It doubles each element."
    )
    completion = extract.chat_completion(PROBLEM, answer)
    assert runs(completion)


def test_the_models_own_examples_and_asserts_are_dropped():
    answer = (
        "```python\nimport math\n\ndef double_all(xs):\n    return [2 * x for x in xs]\n\n"
        "print(double_all([1]))\nassert double_all([1]) == [3]\nif __name__ == '__main__':\n    raise SystemExit(1)\n```"
    )
    completion = extract.chat_completion(PROBLEM, answer)
    assert "print(" not in completion and "assert" not in completion and "__main__" not in completion
    assert "import math" in completion
    assert runs(completion)


def test_guarded_imports_and_conditional_definitions_are_kept():
    answer = (
        "```python\ntry:\n    from math import prod\nexcept ImportError:\n    prod = None\n\n"
        "import sys\nif sys.version_info >= (3,):\n    def twice(x):\n        return 2 * x\nelse:\n    twice = None\n\n"
        "def double_all(xs):\n    return [twice(x) for x in xs]\n\nif __name__ == '__main__':\n    print(double_all([1]))\n```"
    )
    completion = extract.chat_completion(PROBLEM, answer)
    assert (
        "from math import prod" in completion and "def twice" in completion and "__main__" not in completion
    )
    assert runs(completion)


def test_prefers_the_block_that_defines_the_entry_point():
    answer = "```python\nx = 1\n```\nthen\n```py\ndef double_all(xs):\n    return [x + x for x in xs]\n```\n```\nprint(1)\n```"
    assert runs(extract.chat_completion(PROBLEM, answer))


def test_unclosed_fence_from_a_truncated_answer():
    answer = "```python\ndef double_all(xs):\n    return [x * 2 for x in xs]\n"
    assert runs(extract.chat_completion(PROBLEM, answer))


def test_raw_code_without_fences_and_trailing_prose():
    answer = "Here you go.\ndef double_all(xs):\n    return [x * 2 for x in xs]\nThis works for any list."
    code = extract.extract_code(answer, "double_all")
    assert code.startswith("def double_all") and "This works" not in code
    assert runs(extract.chat_completion(PROBLEM, answer))


def test_a_bare_body_is_indented_under_the_prompt():
    assert runs(extract.chat_completion(PROBLEM, "```python\nreturn [x * 2 for x in xs]\n```"))


def test_decorators_survive_the_cleanup():
    answer = "```python\nimport functools\n\n@functools.lru_cache(maxsize=None)\ndef twice(x):\n    return 2 * x\n\ndef double_all(xs):\n    return [twice(x) for x in xs]\n```"
    completion = extract.chat_completion(PROBLEM, answer)
    assert "@functools.lru_cache" in completion
    assert runs(completion)


def test_a_stub_without_body_gets_pass_before_the_replacement():
    problem = Problem("T/1", "def f(x):\n", "f", "def check(c):\n    assert c(1) == 2\n")
    completion = extract.merge_with_prompt(problem, "def f(x):\n    return x + 1")
    exec(check_program(problem, completion), {})


def test_wrong_answers_still_fail():
    answer = "```python\ndef double_all(xs):\n    return xs\n```"
    assert not runs(extract.chat_completion(PROBLEM, answer))


@pytest.mark.parametrize(
    ("generated", "expected"),
    [
        ("\n    return [x * 2 for x in xs]\n\ndef other():\n    pass", "    return [x * 2 for x in xs]\n"),
        (
            "\n    return [x * 2 for x in xs]\n\n\nprint(double_all([1]))",
            "    return [x * 2 for x in xs]\n\n",
        ),
        ("\n    return [x * 2 for x in xs]\n# trailing comment", "    return [x * 2 for x in xs]"),
        (
            "\n    return [x * 2 for x in xs]\nif __name__ == '__main__':\n    pass",
            "    return [x * 2 for x in xs]",
        ),
    ],
)
def test_plain_continuations_stop_at_stop_sequences(generated, expected):
    used = prompts.plain_prompt(PROBLEM)
    completion = extract.plain_completion(PROBLEM, used, generated, prompts.PLAIN_STOPS)
    assert completion == expected
    assert runs(completion)


def test_prefilled_chat_continuation_ends_with_the_function():
    used = prompts.plain_prompt(PROBLEM)
    generated = "\n    return [x * 2 for x in xs]\n```\n\nThis doubles each number."
    completion = extract.prefill_completion(PROBLEM, used, generated, prompts.PREFILL_STOPS)
    assert completion == "    return [x * 2 for x in xs]"
    assert runs(completion)
    generated = "\n    return [x * 2 for x in xs]\n\nExplanation: doubles."
    assert runs(extract.prefill_completion(PROBLEM, used, generated, prompts.PREFILL_STOPS))


def test_instruction_follows_humaneval_synthesize():
    text = prompts.instruction(PROBLEM)
    assert text.startswith(
        "Write a Python function `double_all(xs: List[int]) -> List[int]` to solve the following problem:\n"
    )
    assert "Double every number." in text and ">>> double_all([1, 2])" in text
    odd = Problem("T/2", "x = (", "f", "")
    assert prompts.instruction(odd).startswith("Complete the following Python code:")
