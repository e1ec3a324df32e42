"""The one tokenizer loader of the mixtures stage: token lengths in the manifest, `mix stats`
and the length filter all count with a tokenizer loaded here (a Hub id or a local folder)."""

from __future__ import annotations

from typing import Any

from mixtune.errors import RecipeError


def load_tokenizer(name: str | None, key: str = "tokenizer") -> Any:
    """The tokenizer `name` (None when no name is given); `key` names the setting in the error a
    bad name raises."""
    if not name:
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{key}: cannot load tokenizer '{name}': {exc}") from None
