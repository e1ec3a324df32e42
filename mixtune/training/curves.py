"""Training curves as a PNG: a person looks at a loss curve rather than reading a log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The curves file of every trained model directory (named on its model card).
CURVES_PNG = "training_curves.png"

# Metrics plotted when present, each in its own panel; DPO adds rewards/* keys.
DEFAULT_KEYS = (
    ("loss", "eval_loss"),
    ("learning_rate",),
    ("mean_token_accuracy", "eval_mean_token_accuracy"),
    ("rewards/accuracies", "eval_rewards/accuracies"),
    ("rewards/margins", "eval_rewards/margins"),
    ("grad_norm",),
)


def series(log_history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one metric in a Trainer's `state.log_history`."""
    xs, ys = [], []
    for entry in log_history:
        if key in entry and "step" in entry and isinstance(entry[key], (int, float)):
            xs.append(float(entry["step"]))
            ys.append(float(entry[key]))
    return xs, ys


def plot_log_history(
    log_history: list[dict[str, Any]],
    out_png: str | Path,
    title: str = "training",
    panels: tuple[tuple[str, ...], ...] = DEFAULT_KEYS,
) -> Path | None:
    """Plot each panel's metrics against the optimizer step; None when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [p for p in panels if any(series(log_history, k)[0] for k in p)]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], present, strict=True):
        for key in panel:
            xs, ys = series(log_history, key)
            if xs:
                ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        ax.set_xlabel("step")
        ax.set_title(panel[0])
        ax.grid(alpha=0.3)
        if len(panel) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
