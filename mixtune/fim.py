"""Fill-in-the-middle (FIM): the one home of the StarCoder FIM layouts.

Training (the completion stage), the infilling evals, `mixtune serve`'s completions endpoint
and the playground's Complete tab all build FIM text here, so a model is asked in exactly the
layout it was trained on. The layouts follow StarCoder's pre-training code (bigcode
Megatron-LM `permute`):

- PSM: `<fim_prefix>` prefix `<fim_suffix>` suffix `<fim_middle>` middle
- SPM: `<fim_prefix><fim_suffix>` suffix `<fim_middle>` prefix middle

so in both layouts the model's job after `<fim_middle>` is to write the middle, and in SPM the
prefix is the start of its "answer" (which is why SPM suits a cursor that keeps moving right).
Split points are drawn on characters (not tokens), as StarCoder does, so a split can fall
inside a word and the model learns to complete partial tokens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from mixtune.errors import MixtuneError

Layout = Literal["psm", "spm"]


@dataclass(frozen=True)
class FimTokens:
    """The sentinel strings of one tokenizer family."""

    prefix: str = "<fim_prefix>"
    middle: str = "<fim_middle>"
    suffix: str = "<fim_suffix>"
    pad: str = "<fim_pad>"


STARCODER = FimTokens()
# SantaCoder and some early BigCode checkpoints spell the sentinels with hyphens
SANTACODER = FimTokens("<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>")
FAMILIES = (STARCODER, SANTACODER)


def fim_tokens_of(tokenizer: object) -> FimTokens:
    """The FIM sentinels `tokenizer` knows as single tokens, or an error naming what is missing.

    A tokenizer without them would split `<fim_prefix>` into pieces and the model would be asked
    for infilling in a layout it never saw, so this refuses instead of guessing.
    """
    vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]
    for family in FAMILIES:
        if all(tok in vocab for tok in (family.prefix, family.middle, family.suffix)):
            return family
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    raise MixtuneError(
        f"tokenizer {name} has no fill-in-the-middle tokens "
        f"({STARCODER.prefix}, {STARCODER.suffix}, {STARCODER.middle}): "
        "use a StarCoder-family model for completion"
    )


def fim_prompt(prefix: str, suffix: str, tokens: FimTokens = STARCODER, layout: Layout = "psm") -> str:
    """The text a model continues with the middle between `prefix` and `suffix`."""
    if layout == "psm":
        return f"{tokens.prefix}{prefix}{tokens.suffix}{suffix}{tokens.middle}"
    if layout == "spm":
        return f"{tokens.prefix}{tokens.suffix}{suffix}{tokens.middle}{prefix}"
    raise MixtuneError(f"unknown FIM layout {layout!r}: expected 'psm' or 'spm'")


def fim_document(
    prefix: str, middle: str, suffix: str, tokens: FimTokens = STARCODER, layout: Layout = "psm"
) -> tuple[str, str]:
    """A training document in FIM layout, as (context, middle): the model reads `context` and
    learns to write `middle` after it, so a trainer can label exactly the middle's tokens."""
    return fim_prompt(prefix, suffix, tokens, layout), middle


def split_points(length: int, rng: random.Random) -> tuple[int, int]:
    """Two sorted character offsets in [0, length], drawn uniformly (StarCoder's rule), so the
    prefix, middle or suffix may each be empty."""
    a, b = rng.randint(0, length), rng.randint(0, length)
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class FimChoice:
    """What the FIM transform did to one document (kept so tests and logs can check it)."""

    applied: bool
    layout: Layout | None
    context: str
    middle: str
    # the document's pieces (for a trainer that encodes them apart, so file text that happens to
    # spell a sentinel never becomes one); prefix = suffix = "" when not applied
    prefix: str = ""
    suffix: str = ""

    @property
    def text(self) -> str:
        return self.context + self.middle


def permute(
    text: str,
    rng: random.Random,
    fim_rate: float,
    fim_spm_rate: float,
    tokens: FimTokens = STARCODER,
) -> FimChoice:
    """Apply the FIM transform to one document with probability `fim_rate`; of those, SPM with
    probability `fim_spm_rate`. Untransformed documents come back as plain text (context "",
    middle = the whole text, so a trainer labels all of it)."""
    if not 0.0 <= fim_rate <= 1.0 or not 0.0 <= fim_spm_rate <= 1.0:
        raise MixtuneError(f"fim_rate and fim_spm_rate must be in [0, 1], got {fim_rate}, {fim_spm_rate}")
    if rng.random() >= fim_rate:
        return FimChoice(False, None, "", text)
    start, end = split_points(len(text), rng)
    layout: Layout = "spm" if rng.random() < fim_spm_rate else "psm"
    prefix, suffix = text[:start], text[end:]
    context, middle = fim_document(prefix, text[start:end], suffix, tokens, layout)
    return FimChoice(True, layout, context, middle, prefix, suffix)
