"""The coupon record."""

from dataclasses import dataclass


@dataclass
class Coupon:
    key: str
    code: str
    percent: int


def example_coupon() -> Coupon:
    return Coupon(key="cou-1", code="SPRING", percent=10)
