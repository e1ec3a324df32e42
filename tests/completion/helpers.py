"""Helpers for the completion tests."""

from __future__ import annotations


class ScriptedRng:
    """Stands in for `random.Random`: returns the given draws in order, so a test fixes the FIM
    decision, the two split points and the layout by hand."""

    def __init__(self, randoms: list[float], ints: list[int] | None = None) -> None:
        self.randoms = list(randoms)
        self.ints = list(ints or [])

    def random(self) -> float:
        return self.randoms.pop(0)

    def randint(self, a: int, b: int) -> int:
        value = self.ints.pop(0)
        assert a <= value <= b
        return value
