"""Fill-in-the-middle evaluation: what a model is asked (the FIM prompt, through `mixtune.fim`,
in the layout it was trained on), when it stops, and how its text becomes the middle.

A completion model ends a middle with its end-of-text token; every FIM sentinel also ends it
(a model that writes `<fim_prefix>` has started a new document). On top of that:

- a single-line middle (HumanEval SingleLineInfilling, a masked line of a repository) is the
  first line written, with its newline (generation stops at the newline);
- a multi-line middle is whole lines, so a missing final newline is added back;
- a middle that starts repeating the suffix (weak models do) is cut where the echo starts;
  the echo is the suffix's first 64 characters, and only a suffix of 16 characters or more is
  looked for, so short common text never cuts a middle (every canonical middle of the three
  HumanEval infilling sets comes through unchanged, tested).
"""

from __future__ import annotations

from mixtune.fim import FimTokens, Layout, fim_prompt

# Sentinels that end a middle besides the FIM ones (StarCoder's end of text, file separator).
END_TOKENS = ("<|endoftext|>", "<file_sep>")
ECHO_CHARS = 64
MIN_ECHO_CHARS = 16
LAYOUTS = ("psm", "spm")


def stop_tokens(tokens: FimTokens) -> tuple[str, ...]:
    """Token strings that end a middle (looked up in the vocabulary as extra EOS ids)."""
    return (*END_TOKENS, tokens.prefix, tokens.suffix, tokens.middle, tokens.pad)


def stops_for(unit: str) -> tuple[str, ...]:
    """Stop strings for a middle of this unit (line | lines | span)."""
    return ("\n",) if unit == "line" else ()


def prompt_for(prefix: str, suffix: str, tokens: FimTokens, layout: Layout) -> str:
    return fim_prompt(prefix, suffix, tokens, layout)


def _cut_at_sentinels(text: str, tokens: FimTokens) -> str:
    cut = len(text)
    for tok in stop_tokens(tokens):
        i = text.find(tok)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def _cut_echo(text: str, suffix: str, at_line_start: bool) -> str:
    """Drop the part of `text` from where it starts repeating the suffix."""
    echo = suffix.lstrip("\n")[:ECHO_CHARS]
    if len(echo) < MIN_ECHO_CHARS:
        return text
    start = 0
    while (i := text.find(echo, start)) != -1:
        if not at_line_start or i == 0 or text[i - 1] == "\n":
            return text[:i]
        start = i + 1
    return text


def middle_of(generated: str, unit: str, suffix: str, tokens: FimTokens) -> str:
    """The middle a model wrote, from its raw generated text (see the module doc)."""
    text = _cut_at_sentinels(generated, tokens)
    if unit == "line":
        return text.split("\n", 1)[0] + "\n"
    text = _cut_echo(text, suffix, at_line_start=unit == "lines")
    if unit == "lines" and text and not text.endswith("\n"):
        text += "\n"
    return text
