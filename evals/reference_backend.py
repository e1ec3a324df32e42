"""`--backend reference`: a generator that writes each task's own answer (HumanEval infilling's
canonical middle, a repository task's masked text), through the same FIM prompt, stop and
post-processing path as a model. Scoring it checks the harness end to end: every canonical
middle must pass, every masked span must match exactly."""

from __future__ import annotations

from evals.generate import GenerationSettings, PreparedPrompt
from mixtune.errors import MixtuneError


class ReferenceBackend:
    """The benchmark's own answers as raw generations (n copies each)."""

    backend = "reference"
    has_chat_template = False
    tokenizer = None

    def generate(self, prepared: list[PreparedPrompt], settings: GenerationSettings) -> list[list[str]]:
        out = []
        for p in prepared:
            if p.style != "fim":
                raise MixtuneError(
                    "--backend reference answers infilling benchmarks (humaneval-infilling-*, repo:PATH); "
                    "score a benchmark's canonical solutions with --samples instead"
                )
            answer = p.problem.canonical_solution
            if answer is None:
                raise MixtuneError(f"{p.problem.task_id}: the benchmark has no canonical answer to give")
            out.append([answer] * settings.n)
        return out
