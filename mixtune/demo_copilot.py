"""`mixtune demo --copilot`: a personal copilot on one CPU, offline.

embedded base model -> completion mixture of the shipped sample codebase (`mixtures/data/
copilot_repo`, a bookkeeping service in one house style; a fifth of its files held out) ->
fill-in-the-middle fine-tuning -> exact match / edit similarity on masked lines and spans of the
held-out files, base model vs fine-tuned -> a before/after plot -> one report -> the serve command.

The stages run as the `mixtune` commands a user would type (`mixtune completion`, `mixtune eval
--benchmark repo:MIXTURE`) and are reused on a rerun, like the chat demo's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtune.demo import Demo, _finished, _overrides, _recipe, _run_cli

PLOT_PNG = "copilot_before_after.png"
SCORES_JSON = "copilot_scores.json"
LABELS = (("base", "base_model", "base model"), ("copilot", "copilot_model", "fine-tuned"))


@dataclass
class CopilotSettings:
    out: Path
    size: str = "tiny"  # embedded base-model size (mixtune.base_model.SIZES)
    completion_overrides: dict[str, Any] = field(default_factory=dict)
    max_new_tokens: int = 48  # per masked line or span
    lines_per_file: int = 2  # repo tasks cut from each held-out file
    spans_per_file: int = 1


def read_scores(run_dir: Path) -> dict[str, Any]:
    """exact match / edit similarity overall and per task kind, from an eval run's results.json."""
    res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    return {**res["scores"], "by_kind": res.get("by_kind", {}), "tasks": res.get("n_problems")}


def plot_before_after(scores: dict[str, dict[str, Any]], out_png: Path) -> Path:
    """Grouped bars: exact match and edit similarity, overall and per task kind, base vs fine-tuned."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({k for s in scores.values() for k in s.get("by_kind", {})})
    groups = [("all", None), *((k, k) for k in kinds)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    width = 0.8 / len(scores)
    for ax, metric, title in zip(
        axes, ("exact_match", "edit_similarity"), ("exact match", "edit similarity"), strict=True
    ):
        for i, (label, s) in enumerate(scores.items()):
            values = [
                s[metric] if kind is None else s["by_kind"].get(kind, {}).get(metric, 0.0)
                for _, kind in groups
            ]
            xs = [g + (i - (len(scores) - 1) / 2) * width for g in range(len(groups))]
            bars = ax.bar(xs, values, width, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.set_xticks(range(len(groups)), [name for name, _ in groups])
        ax.set_title(f"{title} on held-out files")
        ax.set_ylim(0, 1.05)
    axes[0].legend()
    fig.suptitle("Completion on the sample codebase's held-out files: before and after fine-tuning")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


class CopilotDemo(Demo):
    """The chat demo's stage runner with the copilot's stages."""

    def __init__(self, settings: CopilotSettings) -> None:  # type: ignore[override]
        super().__init__(settings)  # type: ignore[arg-type]
        self.s: CopilotSettings = settings  # type: ignore[assignment]

    def mixture(self) -> dict[str, Path]:
        from mixtures import build_mixture

        recipe = _recipe("completion", "recipes", "demo-mixture.yaml")
        return {"code_mixture": Path(build_mixture(recipe, out=self.out / "mixture"))}

    def completion(self) -> dict[str, Path]:
        out = self.out / "copilot"
        if not _finished(out):
            argv = ["completion", str(_recipe("completion", "recipes", "demo.yaml"))]
            argv += _overrides(
                {
                    "model_name_or_path": self.paths["base_model"],
                    "mixture": self.paths["code_mixture"],
                    "output_dir": out,
                    **self.s.completion_overrides,
                }
            )
            _run_cli(argv, self.logs / "completion.log")
        return {"copilot_model": out}

    def evals(self) -> dict[str, Path]:
        from evals.results import has_results

        found: dict[str, Path] = {}
        for label, key, _ in LABELS:
            run_dir = self.out / "evals" / label
            if not has_results(run_dir):
                argv = ["eval", str(self.paths[key]), "--benchmark", f"repo:{self.paths['code_mixture']}"]
                argv += ["--max-new-tokens", str(self.s.max_new_tokens), "--temperature", "0"]
                argv += ["--repo-lines-per-file", str(self.s.lines_per_file)]
                argv += ["--repo-spans-per-file", str(self.s.spans_per_file)]
                argv += ["--name", label, "--out", str(run_dir)]
                _run_cli(argv, self.logs / f"eval-{label}.log")
            found[f"eval_{label}"] = run_dir
        return found

    def before_after(self) -> dict[str, Path]:
        scores = {title: read_scores(self.paths[f"eval_{label}"]) for label, _, title in LABELS}
        path = self.out / SCORES_JSON
        path.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
        png = plot_before_after(scores, self.out / PLOT_PNG)
        for title, s in scores.items():
            print(
                f"{title:>11}: exact match {s['exact_match']:.3f}, edit similarity {s['edit_similarity']:.3f} ({s['tasks']} tasks)"
            )
        return {"copilot_scores": path, "copilot_plot": png}

    def run(self) -> Path:
        from evals.results import has_results
        from mixtune.demo_report import write_copilot_report
        from mixtune.manifest import is_built_mixture

        self.stage("base model", lambda: (self.out / f"base-model-{self.s.size}").is_dir(), self.base_model)
        self.stage("completion mixture", lambda: is_built_mixture(self.out / "mixture"), self.mixture)
        self.stage("completion training", lambda: _finished(self.out / "copilot"), self.completion)
        self.stage("repo eval", lambda: has_results(self.out / "evals" / "copilot"), self.evals)
        self.stage("before/after", lambda: False, self.before_after)
        serve = " ".join(serve_command(self.out))
        report = write_copilot_report(self.out, self.paths, self.results, self.s, serve)
        print(f"\nreport: {report}")
        return report


def serve_command(out: Path) -> list[str]:
    return ["mixtune", "serve", str(out / "copilot"), "--port", "8000"]


def run_copilot(args: Any) -> int:
    """`mixtune demo --copilot [--out DIR] [--size S] [--max-new-tokens N] [--no-chat] [--port P]`."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = Path("runs/demo-copilot" if args.out == "runs/demo" else args.out).resolve()
    tokens = args.max_new_tokens if args.max_new_tokens != 192 else 48  # 192: the chat demo's default
    CopilotDemo(CopilotSettings(out=out, size=args.size, max_new_tokens=tokens)).run()
    print("\nserve it to editors: " + " ".join(serve_command(out)))
    cmd = ["mixtune", "chat", "--model", f"copilot={out / 'copilot'}", "--port", str(args.port)]
    if args.no_chat:
        print("playground (Complete tab): " + " ".join(cmd))
        return 0
    print("\nstarting the playground, Complete tab (Ctrl+C to stop): " + " ".join(cmd), flush=True)
    from mixtune.cli import main

    return main(cmd[1:])
