"""Counting live causal-LM models while DPO trains: a reference copy would be a second one."""

from __future__ import annotations

import gc
from typing import Any

from transformers import TrainerCallback


def live_models() -> int:
    from transformers import GenerationMixin

    gc.collect()
    return sum(isinstance(o, GenerationMixin) for o in gc.get_objects())


class ModelCounter(TrainerCallback):
    """Live models after each optimizer step (after the first only, with `first_step_only`: a full
    count walks every object, so a long run counts once)."""

    def __init__(self, first_step_only: bool = False) -> None:
        self.first_step_only = first_step_only
        self.counts: list[int] = []
        self.baseline = live_models()  # models other tests still hold are not this run's

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not (self.first_step_only and self.counts):
            self.counts.append(live_models() - self.baseline)
