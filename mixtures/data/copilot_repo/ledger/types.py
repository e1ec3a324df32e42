"""Value types every record uses."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Money:
    """An amount in cents (never a float)."""

    cents: int

    def __add__(self, other: "Money") -> "Money":
        return Money(self.cents + other.cents)


@dataclass(frozen=True)
class Day:
    """A number of days (terms, due dates)."""

    days: int


@dataclass(frozen=True)
class Grams:
    """A weight in grams."""

    grams: int
