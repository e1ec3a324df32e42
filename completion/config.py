"""The completion stage's trainer config: transformers' `TrainingArguments` plus `trust_remote_code`
(the key TRL's configs carry), so a completion recipe names models the way SFT and DPO recipes do.
A module of its own: the Trainer pickles its arguments into every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class CompletionConfig(TrainingArguments):
    trust_remote_code: bool = field(default=False, metadata={"help": "run the model repository's code"})
