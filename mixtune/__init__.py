"""mixtune: mixture recipes -> SFT -> DPO -> sandboxed evals -> playground, for code chat models."""

__version__ = "0.1.0"
