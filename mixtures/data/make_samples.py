"""Regenerate the shipped sample data (`python mixtures/data/make_samples.py`).

The samples are small and written for this project. Code answers follow one consistent
style — a fenced ```python block, then one line of explanation — so that a tiny model
can visibly learn both the chat format and the answer style from a few hundred rows.
Preference pairs keep that style in `chosen` and break it in `rejected` (no code block,
rambling, or wrong code), so DPO on them has a learnable signal.

Each file uses a different input format, as real mixtures do.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (name, parameters, what it does, body, one-line explanation)
TASKS: list[tuple[str, str, str, str, str]] = [
    ("add", "a, b", "returns the sum of a and b", "return a + b", "It adds the two numbers with `+`."),
    ("subtract", "a, b", "returns a minus b", "return a - b", "It subtracts `b` from `a`."),
    ("multiply", "a, b", "returns the product of a and b", "return a * b", "It multiplies the two numbers."),
    ("square", "x", "returns x squared", "return x * x", "It multiplies `x` by itself."),
    ("cube", "x", "returns x cubed", "return x ** 3", "It raises `x` to the power 3."),
    ("is_even", "n", "tells whether n is even", "return n % 2 == 0", "A number is even when `n % 2` is 0."),
    ("is_odd", "n", "tells whether n is odd", "return n % 2 == 1", "A number is odd when `n % 2` is 1."),
    (
        "absolute",
        "x",
        "returns the absolute value of x",
        "return -x if x < 0 else x",
        "It negates `x` when it is negative.",
    ),
    (
        "largest",
        "items",
        "returns the largest number in a list",
        "return max(items)",
        "`max` finds the largest item.",
    ),
    (
        "smallest",
        "items",
        "returns the smallest number in a list",
        "return min(items)",
        "`min` finds the smallest item.",
    ),
    (
        "total",
        "items",
        "returns the sum of a list of numbers",
        "return sum(items)",
        "`sum` adds every item of the list.",
    ),
    (
        "average",
        "items",
        "returns the mean of a list of numbers",
        "return sum(items) / len(items)",
        "It divides the sum by the number of items.",
    ),
    (
        "count_vowels",
        "text",
        "counts the vowels in a string",
        'return sum(1 for ch in text.lower() if ch in "aeiou")',
        "It counts the characters that are one of `aeiou`.",
    ),
    (
        "reverse_string",
        "text",
        "reverses a string",
        "return text[::-1]",
        "The slice `[::-1]` walks the string backwards.",
    ),
    (
        "is_palindrome",
        "text",
        "tells whether a string reads the same backwards",
        "return text == text[::-1]",
        "It compares the string with its reverse.",
    ),
    (
        "factorial",
        "n",
        "returns n factorial",
        "result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
        "It multiplies every number from 2 to `n`.",
    ),
    (
        "fibonacci",
        "n",
        "returns the n-th Fibonacci number",
        "a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        "It keeps the last two numbers and steps `n` times.",
    ),
    (
        "to_fahrenheit",
        "celsius",
        "converts Celsius to Fahrenheit",
        "return celsius * 9 / 5 + 32",
        "It applies F = C * 9/5 + 32.",
    ),
    (
        "to_celsius",
        "fahrenheit",
        "converts Fahrenheit to Celsius",
        "return (fahrenheit - 32) * 5 / 9",
        "It applies C = (F - 32) * 5/9.",
    ),
    (
        "word_count",
        "text",
        "counts the words in a sentence",
        "return len(text.split())",
        "`split` breaks the text on whitespace.",
    ),
    (
        "capitalize_words",
        "text",
        "capitalizes every word of a sentence",
        'return " ".join(w.capitalize() for w in text.split())',
        "It capitalizes each word and joins them with spaces.",
    ),
    (
        "unique_items",
        "items",
        "removes duplicates from a list, keeping the order",
        "return list(dict.fromkeys(items))",
        "`dict.fromkeys` keeps the first copy of each item in order.",
    ),
    (
        "flatten",
        "lists",
        "flattens a list of lists",
        "return [x for inner in lists for x in inner]",
        "The comprehension walks every inner list in turn.",
    ),
    (
        "last_item",
        "items",
        "returns the last item of a list",
        "return items[-1]",
        "Index `-1` is the last position.",
    ),
    (
        "first_item",
        "items",
        "returns the first item of a list",
        "return items[0]",
        "Index `0` is the first position.",
    ),
    (
        "double_all",
        "items",
        "doubles every number in a list",
        "return [2 * x for x in items]",
        "The comprehension multiplies each item by 2.",
    ),
    (
        "positives",
        "items",
        "keeps only the positive numbers of a list",
        "return [x for x in items if x > 0]",
        "The condition keeps items greater than 0.",
    ),
    (
        "count_of",
        "items, value",
        "counts how often a value occurs in a list",
        "return items.count(value)",
        "`list.count` counts equal items.",
    ),
    (
        "join_words",
        "words",
        "joins a list of words with spaces",
        'return " ".join(words)',
        "`join` puts a space between the words.",
    ),
    (
        "shout",
        "text",
        "turns a string into upper case",
        "return text.upper()",
        "`upper` converts every letter.",
    ),
    (
        "whisper",
        "text",
        "turns a string into lower case",
        "return text.lower()",
        "`lower` converts every letter.",
    ),
    (
        "is_empty",
        "items",
        "tells whether a list is empty",
        "return len(items) == 0",
        "An empty list has length 0.",
    ),
    (
        "contains",
        "items, value",
        "tells whether a list contains a value",
        "return value in items",
        "The `in` operator searches the list.",
    ),
    (
        "merge_dicts",
        "a, b",
        "merges two dictionaries, the second one winning",
        "return {**a, **b}",
        "Later keys overwrite earlier ones when unpacked.",
    ),
    (
        "invert_dict",
        "mapping",
        "swaps the keys and values of a dictionary",
        "return {v: k for k, v in mapping.items()}",
        "The comprehension builds value-to-key pairs.",
    ),
    (
        "char_counts",
        "text",
        "counts how often each character occurs in a string",
        "counts = {}\n    for ch in text:\n        counts[ch] = counts.get(ch, 0) + 1\n    return counts",
        "It adds one to the character's count for every character.",
    ),
    (
        "gcd",
        "a, b",
        "returns the greatest common divisor of a and b",
        "while b:\n        a, b = b, a % b\n    return a",
        "It applies Euclid's algorithm until the remainder is 0.",
    ),
    (
        "is_prime",
        "n",
        "tells whether n is a prime number",
        "if n < 2:\n        return False\n    for d in range(2, int(n ** 0.5) + 1):\n        if n % d == 0:\n            return False\n    return True",
        "It looks for a divisor up to the square root of `n`.",
    ),
    (
        "power",
        "base, exponent",
        "raises base to a power",
        "return base ** exponent",
        "The `**` operator raises to a power.",
    ),
    (
        "clamp",
        "x, low, high",
        "limits x to the range from low to high",
        "return max(low, min(x, high))",
        "`min` caps the top and `max` lifts the bottom.",
    ),
    (
        "sign",
        "x",
        "returns -1, 0 or 1 for the sign of x",
        "return (x > 0) - (x < 0)",
        "The two comparisons subtract to -1, 0 or 1.",
    ),
    (
        "min_max",
        "items",
        "returns the smallest and largest item as a pair",
        "return min(items), max(items)",
        "It returns a tuple of `min` and `max`.",
    ),
    (
        "running_total",
        "items",
        "returns the running totals of a list",
        "out, acc = [], 0\n    for x in items:\n        acc += x\n        out.append(acc)\n    return out",
        "It keeps a running sum and records it after each item.",
    ),
    (
        "product",
        "items",
        "multiplies all numbers of a list",
        "result = 1\n    for x in items:\n        result *= x\n    return result",
        "It starts from 1 and multiplies each item in.",
    ),
    (
        "repeat",
        "text, times",
        "repeats a string a number of times",
        "return text * times",
        "Multiplying a string repeats it.",
    ),
    (
        "squares",
        "n",
        "returns the squares of the numbers from 1 to n",
        "return [i * i for i in range(1, n + 1)]",
        "The comprehension squares each number in the range.",
    ),
    (
        "sum_to",
        "n",
        "returns the sum of the numbers from 1 to n",
        "return n * (n + 1) // 2",
        "It uses the formula n(n+1)/2.",
    ),
    (
        "digit_sum",
        "n",
        "returns the sum of the digits of n",
        "return sum(int(d) for d in str(abs(n)))",
        "It sums the digits of the number's text.",
    ),
    (
        "evens",
        "items",
        "keeps the even numbers of a list",
        "return [x for x in items if x % 2 == 0]",
        "The condition keeps numbers divisible by 2.",
    ),
    (
        "odds",
        "items",
        "keeps the odd numbers of a list",
        "return [x for x in items if x % 2 == 1]",
        "The condition keeps numbers with remainder 1.",
    ),
    (
        "longest_word",
        "text",
        "returns the longest word of a sentence",
        "return max(text.split(), key=len)",
        "`max` with `key=len` compares word lengths.",
    ),
    (
        "shortest_word",
        "text",
        "returns the shortest word of a sentence",
        "return min(text.split(), key=len)",
        "`min` with `key=len` compares word lengths.",
    ),
    (
        "is_sorted",
        "items",
        "tells whether a list is sorted",
        "return all(a <= b for a, b in zip(items, items[1:]))",
        "It checks every neighbouring pair.",
    ),
    (
        "chunks",
        "items, size",
        "splits a list into chunks of a given size",
        "return [items[i:i + size] for i in range(0, len(items), size)]",
        "It slices the list every `size` items.",
    ),
    (
        "pairs_to_dict",
        "keys, values",
        "builds a dictionary from two lists",
        "return dict(zip(keys, values))",
        "`zip` pairs the lists and `dict` collects them.",
    ),
    (
        "second_largest",
        "items",
        "returns the second largest distinct number",
        "return sorted(set(items))[-2]",
        "It sorts the distinct values and takes the one before last.",
    ),
    (
        "median",
        "items",
        "returns the median of a list of numbers",
        "s = sorted(items)\n    mid = len(s) // 2\n    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2",
        "It sorts the list and takes the middle (or the mean of the two middle) values.",
    ),
    (
        "safe_divide",
        "a, b",
        "divides a by b, returning None when b is 0",
        "return None if b == 0 else a / b",
        "It checks for zero before dividing.",
    ),
    (
        "circle_area",
        "radius",
        "returns the area of a circle",
        "import math\n    return math.pi * radius ** 2",
        "It applies pi times the radius squared.",
    ),
    (
        "rectangle_area",
        "width, height",
        "returns the area of a rectangle",
        "return width * height",
        "The area is width times height.",
    ),
    (
        "hypotenuse",
        "a, b",
        "returns the hypotenuse of a right triangle",
        "return (a * a + b * b) ** 0.5",
        "It applies Pythagoras' theorem.",
    ),
    (
        "minutes",
        "seconds",
        "converts seconds to whole minutes",
        "return seconds // 60",
        "Integer division by 60 drops the leftover seconds.",
    ),
    (
        "initials",
        "name",
        "returns the initials of a full name",
        'return "".join(part[0].upper() for part in name.split())',
        "It takes the first letter of each name part.",
    ),
    (
        "strip_spaces",
        "text",
        "removes leading and trailing spaces",
        "return text.strip()",
        "`strip` trims whitespace at both ends.",
    ),
    (
        "count_words_longer",
        "text, n",
        "counts the words longer than n letters",
        "return sum(1 for w in text.split() if len(w) > n)",
        "It counts the words whose length exceeds `n`.",
    ),
    (
        "starts_with",
        "text, prefix",
        "tells whether a string starts with a prefix",
        "return text.startswith(prefix)",
        "`startswith` compares the beginning of the string.",
    ),
    (
        "remove_vowels",
        "text",
        "removes the vowels from a string",
        'return "".join(ch for ch in text if ch.lower() not in "aeiou")',
        "It keeps only the characters that are not vowels.",
    ),
    (
        "nth_root",
        "x, n",
        "returns the n-th root of x",
        "return x ** (1 / n)",
        "Raising to 1/n takes the n-th root.",
    ),
    (
        "sorted_desc",
        "items",
        "sorts a list from largest to smallest",
        "return sorted(items, reverse=True)",
        "`reverse=True` sorts in descending order.",
    ),
    (
        "key_of_max",
        "mapping",
        "returns the key with the largest value",
        "return max(mapping, key=mapping.get)",
        "`max` compares keys by their values.",
    ),
    (
        "tail",
        "items, n",
        "returns the last n items of a list",
        "return items[-n:] if n else []",
        "A negative slice start counts from the end.",
    ),
]

# Short general chat: (question, answer).
CHAT: list[tuple[str, str]] = [
    (
        "What is a list comprehension in Python?",
        "A compact way to build a list from an iterable, like `[x * 2 for x in items]`. It reads as: for each item, keep this expression.",
    ),
    (
        "What does `len` do?",
        "`len` returns the number of items in a sequence or collection, such as the characters of a string or the elements of a list.",
    ),
    (
        "What is the difference between a list and a tuple?",
        "A list can be changed after it is created; a tuple cannot. Use tuples for fixed records and lists for collections that grow.",
    ),
    (
        "How do I read a file in Python?",
        'Open it in a `with` block so it is closed for you:\n\n```python\nwith open("notes.txt") as fh:\n    text = fh.read()\n```',
    ),
    (
        "What is a dictionary?",
        'A dictionary maps keys to values, for example `{"apple": 3}`. Looking up a key is fast, whatever the size.',
    ),
    (
        "Why use virtual environments?",
        "They keep each project's packages separate, so upgrading a library for one project cannot break another.",
    ),
    (
        "What is recursion?",
        "A function that calls itself on a smaller part of the problem, with a base case that stops the calls.",
    ),
    (
        "What does `git commit` do?",
        "It records the staged changes as a new snapshot in the repository's history, with a message describing them.",
    ),
    (
        "What is an exception?",
        "An error raised while the program runs. You can handle it with `try` / `except` instead of letting the program stop.",
    ),
    (
        "How do I write a comment in Python?",
        "Start the line with `#`. Everything after it on that line is ignored by Python.",
    ),
    (
        "What is a unit test?",
        "A small automated check that one piece of code behaves as expected, such as a function returning the right value for an input.",
    ),
    (
        "What is the difference between `==` and `is`?",
        "`==` compares values; `is` checks whether two names refer to the very same object.",
    ),
    (
        "What does `pip install` do?",
        "It downloads a Python package (and its dependencies) and installs it into the current environment.",
    ),
    (
        "What is a generator?",
        "A function that uses `yield` to produce values one at a time, so large sequences never need to sit in memory at once.",
    ),
    (
        "What is JSON?",
        "A text format for data made of objects, arrays, strings, numbers, booleans and null. Python reads it with the `json` module.",
    ),
    (
        "What is the time complexity of looking up an item in a list?",
        "Checking `x in items` on a list is O(n): Python may have to look at every element. A set does it in O(1) on average.",
    ),
    ("What does `range(5)` produce?", "The numbers 0, 1, 2, 3 and 4: it starts at 0 and stops before 5."),
    (
        "How do I format a number with two decimals?",
        'Use an f-string: `f"{value:.2f}"` turns 3.14159 into `3.14`.',
    ),
    ("What is a lambda?", "A small anonymous function written in one expression, such as `lambda x: x + 1`."),
    (
        "What is a class?",
        "A blueprint for objects: it bundles data (attributes) with the functions that work on it (methods).",
    ),
    ("Hello!", "Hello! I can help you write, explain or fix code. What are you working on?"),
    (
        "Can you help me with Python?",
        "Of course. Tell me what you want the code to do, and I will write it with a short explanation.",
    ),
    ("Thanks, that worked.", "Glad it worked! Ask any time you need another function."),
    (
        "What is a docstring?",
        "A string literal right after a `def` or `class` line that documents it; tools such as `help()` show it.",
    ),
    ("What does `return` do?", "It ends the function and hands a value back to the caller."),
    (
        "What is `None`?",
        'Python\'s value for "nothing here". Functions without a `return` statement give back `None`.',
    ),
    (
        "How do I loop over a list with indices?",
        "Use `enumerate`:\n\n```python\nfor i, item in enumerate(items):\n    print(i, item)\n```",
    ),
    (
        "What is slicing?",
        "Taking part of a sequence with `start:stop:step`, for example `text[1:4]` for the characters at positions 1 to 3.",
    ),
    (
        "What is an f-string?",
        'A string prefixed with `f` in which `{expressions}` are replaced by their values, such as `f"Hi {name}"`.',
    ),
    (
        "What is a set?",
        "An unordered collection of distinct items. Adding an item that is already there changes nothing.",
    ),
]

SYSTEM = (
    "You are a helpful coding assistant. Answer with a short Python code block and one line of explanation."
)

RAMBLES = [
    "Well, there are many ways to think about this problem, and it really depends on what you need. "
    "You could consider the inputs first, then think about the outputs, and maybe try a few things until it works.",
    "Great question! Programming is a journey and every problem teaches us something. I would suggest reading the "
    "documentation and experimenting, because practice makes perfect.",
    "I am not completely sure, but I think you should probably write some code that does it. It might be easy or "
    "it might be hard, it depends on many factors.",
]


def code_answer(name: str, params: str, body: str, expl: str) -> str:
    return f"```python\ndef {name}({params}):\n    {body}\n```\n{expl}"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def rejected_answer(i: int, name: str, params: str, desc: str) -> str:
    """Breaks the chosen style in one of three ways: prose only, unfenced wrong code, rambling."""
    style = i % 3
    if style == 0:
        return f"To write `{name}` you take {params} and then it {desc}. Just write the logic and return it."
    if style == 1:
        return f"def {name}({params}):\n    pass  # TODO\n\nThis should work, maybe."
    return RAMBLES[i % len(RAMBLES)]


def _half_of_tasks(
    code: list[tuple[int, tuple]], parity: int, ask: tuple[str, str], answer: str
) -> list[dict]:
    """Rows {ask field: the task asked, answer field: its solution} of every other task."""
    field, template = ask
    return [
        {field: template.format(name=name, desc=desc), answer: code_answer(name, params, body, expl)}
        for i, (name, params, desc, body, expl) in code
        if i % 2 == parity
    ]


def write_code_sft(code: list[tuple[int, tuple]]) -> None:
    """SFT: the same tasks in three instruction formats, phrased differently."""
    alpaca = [
        {
            "instruction": f"Write a Python function `{name}({params})` that {desc}.",
            "input": "",
            "output": code_answer(name, params, body, expl),
        }
        for _, (name, params, desc, body, expl) in code
    ]
    write_jsonl(HERE / "code_alpaca.jsonl", alpaca)
    evol = _half_of_tasks(
        code, 0, ("instruction", "Implement `{name}` in Python: a function that {desc}."), "response"
    )
    write_jsonl(HERE / "code_evol.jsonl", evol)
    oss = _half_of_tasks(
        code, 1, ("problem", "I need a function called `{name}` which {desc}. Can you write it?"), "solution"
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(oss), HERE / "code_oss_instruct.parquet")


def write_chat(code: list[tuple[int, tuple]]) -> None:
    """Chat: OpenAI messages (some with a system prompt, some multi-turn), ShareGPT, prompt/completion CSV."""
    messages = []
    for i, (q, a) in enumerate(CHAT):
        turns = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        if i % 4 == 0:
            turns.insert(0, {"role": "system", "content": "You are a friendly programming tutor."})
        if i % 5 == 0:
            name, params, desc, body, expl = TASKS[i]
            turns += [
                {"role": "user", "content": f"Now write a function `{name}({params})` that {desc}."},
                {"role": "assistant", "content": code_answer(name, params, body, expl)},
            ]
        messages.append({"messages": turns})
    write_jsonl(HERE / "chat_messages.jsonl", messages)
    sharegpt = [
        {
            "conversations": [
                {"from": "human", "value": f"Please write `{name}({params})`: it {desc}."},
                {"from": "gpt", "value": code_answer(name, params, body, expl)},
                {"from": "human", "value": "Can you explain it in one sentence?"},
                {"from": "gpt", "value": expl},
            ]
        }
        for i, (name, params, desc, body, expl) in code
        if i % 3 == 0
    ]
    (HERE / "chat_sharegpt.json").write_text(
        json.dumps(sharegpt, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with (HERE / "chat_prompt_completion.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["prompt", "completion"])
        for q, a in CHAT[::2]:
            writer.writerow([q, a])


def write_preferences(code: list[tuple[int, tuple]]) -> None:
    """Preference: ultrafeedback-style full conversations (prompt = shared prefix) and
    orca-style strings with a system prompt."""
    uf = []
    for i, (name, params, desc, body, expl) in code:
        prompt = f"Write a Python function `{name}({params})` that {desc}."
        user = {"role": "user", "content": prompt}
        uf.append(
            {
                "prompt": prompt,
                "chosen": [user, {"role": "assistant", "content": code_answer(name, params, body, expl)}],
                "rejected": [user, {"role": "assistant", "content": rejected_answer(i, name, params, desc)}],
                "score_chosen": 9.0,
                "score_rejected": 3.0,
            }
        )
    write_jsonl(HERE / "prefs_ultrafeedback.jsonl", uf)
    orca = [
        {
            "system": SYSTEM,
            "question": f"Give me Python code for `{name}`: it {desc}.",
            "chosen": code_answer(name, params, body, expl),
            "rejected": rejected_answer(i + 1, name, params, desc),
        }
        for i, (name, params, desc, body, expl) in code
    ]
    write_jsonl(HERE / "prefs_orca.jsonl", orca)


def main() -> None:
    code = list(enumerate(TASKS))
    write_code_sft(code)
    write_chat(code)
    write_preferences(code)


if __name__ == "__main__":
    main()
