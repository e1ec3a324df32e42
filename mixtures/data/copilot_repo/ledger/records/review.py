"""The review record."""

from dataclasses import dataclass


@dataclass
class Review:
    key: str
    product: str
    stars: int
    text: str


def example_review() -> Review:
    return Review(key="rev-1", product="pro-1", stars=4, text="solid")
