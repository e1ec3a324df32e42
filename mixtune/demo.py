"""`mixtune demo`: the whole story on one CPU, offline.

embedded base model -> demo SFT + preference mixtures (filters on) -> SFT -> DPO ->
HumanEval (a subset) for base, SFT and DPO -> comparison -> held-out preference accuracy ->
one report linking every artefact -> the playground (DPO model, SFT model in the arena).

Each stage writes into the demo folder and is skipped on a rerun when its output is complete,
so a second `mixtune demo` only re-renders the report. Training and evaluation run as
`python -m mixtune ...` child processes: the very commands a user would type, each releasing its
memory when done.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.results import has_results
from mixtune.errors import MixtuneError
from mixtune.manifest import is_built_mixture

log = logging.getLogger(__name__)


@dataclass
class DemoSettings:
    out: Path
    size: str = "tiny"  # embedded base-model size (mixtune.base_model.SIZES)
    eval_limit: int = 20  # HumanEval problems evaluated per model
    max_new_tokens: int = 192
    sft_overrides: dict[str, Any] = field(default_factory=dict)
    dpo_overrides: dict[str, Any] = field(default_factory=dict)
    preference_rows: int = 64  # held-out pairs scored for preference accuracy


@dataclass
class StageResult:
    name: str
    seconds: float
    cached: bool
    artefacts: dict[str, Path]


def _recipe(package: str, *parts: str) -> Path:
    import importlib

    path = Path(importlib.import_module(package).__file__).parent.joinpath(*parts)
    if not path.is_file():
        raise MixtuneError(f"demo recipe missing: {path}")
    return path


def _run_cli(argv: list[str], log_path: Path) -> None:
    """Run `python -m mixtune ARGV`, streaming its output to the console and to log_path."""
    cmd = [sys.executable, "-m", "mixtune", *argv]
    print("$ mixtune " + " ".join(argv), flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            sys.stdout.write(line)
        code = proc.wait()
    if code != 0:
        raise MixtuneError(f"`mixtune {' '.join(argv)}` failed (exit {code}); see {log_path}")


def _overrides(values: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in values.items():
        argv += [f"--{key}", str(value)]
    return argv


class Demo:
    def __init__(self, settings: DemoSettings) -> None:
        self.s = settings
        self.out = settings.out
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.results: list[StageResult] = []
        self.paths: dict[str, Path] = {}

    def stage(self, name: str, done: Callable[[], bool], work: Callable[[], dict[str, Path]]) -> None:
        """Run one stage (or reuse its output), recording its wall time; a cached stage keeps the
        time it took when it was built, so a rerun's report still says what each stage costs."""
        t0 = time.time()
        cached = done()
        print(f"\n=== {name}{' (cached)' if cached else ''} ===", flush=True)
        artefacts = work()
        self.paths.update(artefacts)
        seconds = time.time() - t0
        timings_path = self.out / "stage_times.json"
        timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
        if cached and name in timings:
            seconds = timings[name]
        else:
            timings[name] = round(seconds, 1)
            timings_path.write_text(json.dumps(timings, indent=2) + "\n")
        self.results.append(StageResult(name, seconds, cached, artefacts))

    # --- stages -------------------------------------------------------------------------------

    def base_model(self) -> dict[str, Path]:
        from mixtune.base_model import build_base_model

        return {"base_model": build_base_model(self.out / f"base-model-{self.s.size}", size=self.s.size)}

    def mixtures(self) -> dict[str, Path]:
        from mixtures import build_mixture

        sft = build_mixture(
            _recipe("mixtures", "recipes", "demo-sft.yaml"), out=self.out / "mixtures" / "sft"
        )
        dpo = build_mixture(
            _recipe("mixtures", "recipes", "demo-dpo.yaml"), out=self.out / "mixtures" / "dpo"
        )
        compare = self.out / "mixtures" / "compare"
        _run_cli(["mix", "compare", str(sft), str(dpo), "--out", str(compare)], self.logs / "mix-compare.log")
        return {"sft_mixture": sft, "dpo_mixture": dpo, "mixture_compare": compare}

    def sft(self) -> dict[str, Path]:
        out = self.out / "sft"
        if not _finished(out):
            argv = ["sft", str(_recipe("sft", "recipes", "demo.yaml"))]
            argv += _overrides(
                {
                    "model_name_or_path": self.paths["base_model"],
                    "mixture": self.paths["sft_mixture"],
                    "output_dir": out,
                    **self.s.sft_overrides,
                }
            )
            _run_cli(argv, self.logs / "sft.log")
        return {"sft_model": out}

    def dpo(self) -> dict[str, Path]:
        out = self.out / "dpo"
        if not _finished(out):
            argv = ["dpo", str(_recipe("dpo", "recipes", "demo.yaml"))]
            argv += _overrides(
                {
                    "model_name_or_path": self.paths["sft_model"],
                    "mixture": self.paths["dpo_mixture"],
                    "output_dir": out,
                    **self.s.dpo_overrides,
                }
            )
            _run_cli(argv, self.logs / "dpo.log")
        return {"dpo_model": out}

    def evals(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for label, key in (("base", "base_model"), ("sft", "sft_model"), ("dpo", "dpo_model")):
            run_dir = self.out / "evals" / label
            if not has_results(run_dir):
                argv = ["eval", str(self.paths[key]), "--limit", str(self.s.eval_limit)]
                argv += ["--max-new-tokens", str(self.s.max_new_tokens), "--temperature", "0"]
                argv += ["--name", label, "--out", str(run_dir)]
                _run_cli(argv, self.logs / f"eval-{label}.log")
            found[f"eval_{label}"] = run_dir
        return found

    def compare(self) -> dict[str, Path]:
        out = self.out / "compare"
        runs = [str(self.paths[f"eval_{label}"]) for label in ("base", "sft", "dpo")]
        _run_cli(["compare", *runs, "--labels", "base,sft,dpo", "--out", str(out)], self.logs / "compare.log")
        return {"compare": out}

    def preference(self) -> dict[str, Path]:
        from mixtune.preference_eval import preference_accuracy
        from mixtures import load_mixture

        path = self.out / "preference_accuracy.json"
        if path.is_file():
            return {"preference_accuracy": path}
        test = load_mixture(self.paths["dpo_mixture"])["test"]
        rows = [test[i] for i in range(min(len(test), self.s.preference_rows))]
        if not rows:
            raise MixtuneError(f"{self.paths['dpo_mixture']}: the preference mixture has no test rows")
        template = self.paths["sft_model"]
        scores = {
            label: preference_accuracy(self.paths[key], rows, template_dir=template).as_dict()
            for label, key in (("base", "base_model"), ("sft", "sft_model"), ("dpo", "dpo_model"))
        }
        path.write_text(json.dumps(scores, indent=2) + "\n")
        for label, score in scores.items():
            print(f"{label:>5}: held-out preference accuracy {score['accuracy']:.3f} (n={score['n']})")
        return {"preference_accuracy": path}

    def run(self) -> Path:
        self.stage("base model", lambda: (self.out / f"base-model-{self.s.size}").is_dir(), self.base_model)
        self.stage("mixtures", lambda: is_built_mixture(self.out / "mixtures" / "sft"), self.mixtures)
        self.stage("SFT", lambda: _finished(self.out / "sft"), self.sft)
        self.stage("DPO", lambda: _finished(self.out / "dpo"), self.dpo)
        self.stage("HumanEval", lambda: has_results(self.out / "evals" / "dpo"), self.evals)
        self.stage("comparison", lambda: False, self.compare)
        self.stage(
            "preference accuracy", lambda: (self.out / "preference_accuracy.json").is_file(), self.preference
        )
        from mixtune.demo_report import write_report

        report = write_report(self.out, self.paths, self.results, self.s, " ".join(chat_command(self.out)))
        print(f"\nreport: {report}")
        return report


def _finished(out: Path) -> bool:
    from mixtune.training.output_dir import is_finished

    return out.is_dir() and is_finished(out)


def chat_command(out: Path) -> list[str]:
    return ["mixtune", "chat", "--model", f"dpo={out / 'dpo'}", "--model", f"sft={out / 'sft'}"]
