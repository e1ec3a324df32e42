"""Loading a tokenizer (a Hub id or a local folder), with an error that names the setting at fault.

In the ground package so that every stage can count tokens with the same loader."""

from __future__ import annotations

from typing import Any

from mixtune.errors import MixtuneError, RecipeError


def load_tokenizer(
    name: str | None, key: str | None = None, revision: str = "main", trust_remote_code: bool = False
) -> Any:
    """The tokenizer `name` (None when no name is given). `key` names the recipe setting or option
    it came from, for the error a tokenizer that cannot be loaded raises."""
    if not name:
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        if key is not None:
            raise RecipeError(f"{key}: cannot load tokenizer '{name}': {exc}") from None
        raise MixtuneError(f"cannot load the tokenizer of '{name}': {exc}") from None
