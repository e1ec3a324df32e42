"""The `filters:` section of a mixture recipe.

Every filter is off when omitted. Naming a filter turns it on with safe defaults, so
`near_dedup: {}` (or `near_dedup: true`) is enough; `enabled: false` keeps the settings but
switches it off. Unknown keys are errors with a "did you mean" hint (extra="forbid").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mixtune.minhash import optimal_bands_rows  # noqa: F401  (the filter and the index share it)

PII_TYPES = ("email", "ip_address", "key")

DEFAULT_REFUSAL_PATTERNS = [
    r"\bas an ai(?: language)? model\b",
    r"\bi(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:can(?:no|')t|am unable to|won't)\b",
    r"\bi can(?:no|')t (?:help|assist) with (?:that|this)\b",
    r"\bi(?:'m| am) (?:not able|unable) to (?:help|assist|comply|provide)\b",
    r"\bi must decline\b",
]

DEFAULT_DECONTAMINATION_WHITELIST = [
    "pass",
    "return",
    "return result",
    "return true",
    "return false",
    "return none",
    "return 0",
    "return ans",
    "return res",
    "else:",
    "break",
    "continue",
    "import math",
    '"""',
    ">>>",
]


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class ExactDedupConfig(_Filter):
    """Drop rows whose normalised text (case-folded, whitespace collapsed) was already seen."""

    normalize: bool = True
    keep: Literal["first", "longest"] = "first"


class NearDedupConfig(_Filter):
    """MinHash + LSH near-deduplication with the BigCode defaults (256 perms, word 5-grams, 0.7)."""

    num_perm: int = Field(256, ge=8, le=4096)
    ngram: int = Field(5, ge=1, le=64)
    threshold: float = Field(0.7, gt=0.0, lt=1.0)
    bands: int | None = Field(None, ge=1, description="computed from threshold when omitted")
    rows: int | None = Field(None, ge=1, description="computed from threshold when omitted")
    false_positive_weight: float = Field(0.5, ge=0.0, le=1.0)
    false_negative_weight: float = Field(0.5, ge=0.0, le=1.0)
    keep: Literal["first", "longest"] = "first"
    verify: bool = False
    seed: int = 42

    @model_validator(mode="after")
    def _check_bands(self) -> NearDedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both 'bands' and 'rows', or neither (they are then computed)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    def band_params(self) -> tuple[int, int]:
        """(bands, rows): as given, or the pair minimising weighted FP + FN area at `threshold`."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands_rows(
            self.threshold, self.num_perm, self.false_positive_weight, self.false_negative_weight
        )


class BenchmarkFile(BaseModel):
    """A jsonl benchmark to decontaminate against, e.g. an MBPP test split."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    fields: list[str] = Field(min_length=1)
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.path.stem


class DecontaminationConfig(_Filter):
    """Drop rows containing benchmark text: substring of normalised snippets + word n-gram overlap."""

    humaneval: bool = True
    benchmarks: list[BenchmarkFile] = Field(default_factory=list)
    ngram: int = Field(10, ge=3, le=64)
    substring: bool = True
    min_substring_chars: int = Field(
        40, ge=1, description="benchmark snippets shorter than this are matched only by n-grams"
    )
    whitelist: list[str] = Field(default_factory=lambda: list(DEFAULT_DECONTAMINATION_WHITELIST))
    code: bool = Field(
        True,
        description="benchmark code (a field that parses as Python): its normalised lines, in order, "
        "and its functions' syntax trees are matched exactly",
    )
    min_code_chars: int = Field(
        30, ge=1, description="non-whitespace characters of non-trivial lines a code snippet needs"
    )
    min_code_lines: int = Field(2, ge=1, description="non-trivial lines a code snippet needs")
    whole_turn: bool = Field(
        True, description="a turn that is exactly a benchmark text (however short) is a copy"
    )
    min_whole_turn_words: int = Field(3, ge=1)


class PIIConfig(_Filter):
    """Redact (or drop rows with) emails, public IP addresses and secrets."""

    action: Literal["redact", "drop"] = "redact"
    types: list[Literal["email", "ip_address", "key"]] = Field(default_factory=lambda: list(PII_TYPES))


class LengthConfig(_Filter):
    """Length and quality bounds; every bound is off unless set."""

    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=1)
    min_tokens: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    tokenizer: str | None = Field(None, description="a Hub id or local directory, for *_tokens bounds")
    max_turns: int | None = Field(None, ge=1, description="user + assistant messages, system excluded")
    drop_empty_assistant: bool = False
    drop_refusals: bool = False
    refusal_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSAL_PATTERNS))

    @model_validator(mode="after")
    def _check_bounds(self) -> LengthConfig:
        if (self.min_tokens is not None or self.max_tokens is not None) and not self.tokenizer:
            raise ValueError("min_tokens/max_tokens need 'tokenizer' (or use min_chars/max_chars)")
        for lo, hi in (("min_chars", "max_chars"), ("min_tokens", "max_tokens")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo} ({a}) is greater than {hi} ({b})")
        return self

    @field_validator("refusal_patterns")
    @classmethod
    def _check_patterns(cls, value: list[str]) -> list[str]:
        import re

        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value


class FiltersConfig(BaseModel):
    """All filters of a mixture, applied across its sources in a fixed order:
    length -> decontamination -> exact_dedup -> near_dedup -> pii."""

    model_config = ConfigDict(extra="forbid")

    exact_dedup: ExactDedupConfig = Field(default_factory=lambda: ExactDedupConfig(enabled=False))
    near_dedup: NearDedupConfig = Field(default_factory=lambda: NearDedupConfig(enabled=False))
    decontamination: DecontaminationConfig = Field(
        default_factory=lambda: DecontaminationConfig(enabled=False)
    )
    pii: PIIConfig = Field(default_factory=lambda: PIIConfig(enabled=False))
    length: LengthConfig = Field(default_factory=lambda: LengthConfig(enabled=False))

    @field_validator("exact_dedup", "near_dedup", "decontamination", "pii", "length", mode="before")
    @classmethod
    def _bool_shorthand(cls, value: Any) -> Any:
        """`near_dedup: true` / `false` / `null` as shorthand for `{enabled: ...}`."""
        if value is None:
            return {"enabled": False}
        if isinstance(value, bool):
            return {"enabled": value}
        return value

    def any_enabled(self) -> bool:
        return any(getattr(self, name).enabled for name in type(self).model_fields)

    def for_source(self, overrides: dict[str, Any]) -> FiltersConfig:
        """This config with one source's `filters:` applied: `false` exempts the source from a
        filter, `true` or a mapping turns it on with the mixture's settings (or the defaults)
        updated by the mapping's keys."""
        if not overrides:
            return self
        data = self.model_dump()
        for name, value in overrides.items():
            if value is None or isinstance(value, bool):
                data[name]["enabled"] = bool(value)
                continue
            base = data[name] if data[name]["enabled"] else FILTER_CLASSES[name]().model_dump()
            data[name] = {**base, "enabled": True, **value}
        return FiltersConfig.model_validate(data)

    def resolved(self, base_dir: str | Path) -> FiltersConfig:
        """A copy whose relative paths (benchmark files; a tokenizer given as a relative path that
        exists there) are taken relative to `base_dir`, the recipe's folder."""
        base = Path(base_dir)
        out = self.model_copy(deep=True)
        for bench in out.decontamination.benchmarks:
            path = Path(os.path.expandvars(os.path.expanduser(str(bench.path))))
            bench.path = path if path.is_absolute() else base / path
        tok = out.length.tokenizer
        if tok and not Path(tok).is_absolute() and (base / tok).exists():
            out.length.tokenizer = str(base / tok)
        return out


FILTER_CLASSES: dict[str, type[_Filter]] = {
    "exact_dedup": ExactDedupConfig,
    "near_dedup": NearDedupConfig,
    "decontamination": DecontaminationConfig,
    "pii": PIIConfig,
    "length": LengthConfig,
}


def check_source_overrides(value: dict[str, Any]) -> dict[str, Any]:
    """Validate a source's `filters:` mapping (names and keys, as the mixture's own section)."""
    from mixtune.recipe_io import suggest

    out: dict[str, Any] = {}
    for name, setting in value.items():
        if name not in FILTER_CLASSES:
            raise ValueError(
                f"filters: '{name}' is not a filter{suggest(str(name), set(FILTER_CLASSES))}; "
                f"one of {sorted(FILTER_CLASSES)}"
            )
        if setting is None or isinstance(setting, bool):
            out[name] = bool(setting)
            continue
        if not isinstance(setting, dict):
            raise ValueError(f"filters.{name}: give true, false or a mapping of its settings")
        try:
            FILTER_CLASSES[name].model_validate(setting)
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else None
            where = ".".join(str(x) for x in first["loc"]) if first else ""
            msg = first["msg"] if first else str(exc)
            raise ValueError(
                f"filters.{name}.{where}: {msg}" if where else f"filters.{name}: {msg}"
            ) from None
        out[name] = dict(setting)
    return out
