"""One evaluation run: benchmark -> completions (generated, or read from a samples file) ->
sandboxed execution -> pass@k -> `results.json` + `samples.jsonl` next to the model (or --out)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evals import infill
from evals import results as results_io
from evals.benchmarks import Benchmark, load_benchmark
from evals.execution import SampleResult, execute_samples, per_problem, summarize
from evals.generate import (
    GenerationSettings,
    LocalModel,
    PreparedPrompt,
    model_label,
    postprocess,
    prepare,
    prepare_fim,
)
from evals.passk import DEFAULT_KS
from evals.prompts import resolve_style
from evals.repo import RepoTaskSettings, load_repo_benchmark, score_samples
from evals.sandbox import Sandbox, SandboxLimits
from evals.training_data import (
    check_samples,
    default_finder,
    model_dir_for_check,
    per_problem_found,
    preflight,
)
from mixtune.errors import MixtuneError
from mixtune.fim import STARCODER, fim_tokens_of
from mixtune.hashing import hash_obj

log = logging.getLogger(__name__)


@dataclass
class EvalRequest:
    """Everything `mixtune eval` needs; one of model / openai_base_url / samples is the source."""

    model: str | None = None
    benchmark: str = "humaneval"
    limit: int | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    backend: str = "auto"
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: str | None = None
    openai_stream: bool = False
    concurrency: int = 8
    samples: str | None = None
    out: str | None = None
    name: str | None = None
    ks: tuple[int, ...] = DEFAULT_KS
    limits: SandboxLimits | None = None  # None: the language's (and benchmark's) defaults
    timeout: float | None = None  # run-phase timeout override (keeps the other defaults)
    memory_mb: int | None = None
    workers: int | None = None
    require_isolation: bool = False
    engine: str | None = None  # sandbox engine: auto (default), bwrap, namespaces
    show_progress: bool = True
    # Library use: any object with generate(prepared, settings) -> n raw texts per prompt and a
    # `backend` name (tests, the demo); takes the place of the model as the writer.
    generator: Any = None
    repo: RepoTaskSettings = field(default_factory=RepoTaskSettings)  # how repo:PATH cuts its tasks
    # Look every sample up in the model's training mixtures (`finder`: the query; None = the
    # ground package's `mixtune.attribution.find_in_training_data`).
    check_training_data: bool = False
    finder: Any = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def _source(req: EvalRequest) -> str:
    if req.samples:
        return "samples"
    if req.generator is not None:
        return "local" if req.model and Path(req.model).is_dir() else "custom"
    if req.backend == "reference":
        return "reference"
    if req.openai_base_url:
        if not req.openai_model:
            raise MixtuneError("--openai-base-url needs --openai-model (the model name the server serves)")
        return "openai"
    if not req.model:
        raise MixtuneError(
            "give a MODEL (directory or Hub id), --openai-base-url with --openai-model, or --samples FILE"
        )
    return "local" if Path(req.model).is_dir() else "hub"


def _samples_for(req: EvalRequest, full: Benchmark, bench: Benchmark) -> list[dict]:
    rows = results_io.read_samples(req.samples, full)  # type: ignore[arg-type]
    wanted = {p.task_id for p in bench.problems}
    rows = [r for r in rows if r["task_id"] in wanted]
    if not rows:
        raise MixtuneError(f"{req.samples}: no samples for the problems of {bench.name}")
    return rows


def _backend(req: EvalRequest, source: str) -> Any:
    """What writes the answers: an injected generator, an endpoint, the reference or a model."""
    if req.generator is not None:
        return req.generator
    if source == "openai":
        from evals.openai_backend import OpenAIEndpoint

        return OpenAIEndpoint(
            req.openai_base_url,  # type: ignore[arg-type]
            req.openai_model,  # type: ignore[arg-type]
            api_key=req.openai_api_key,
            stream=req.openai_stream,
            concurrency=req.concurrency,
        )
    if source == "reference":
        from evals.reference_backend import ReferenceBackend

        return ReferenceBackend()
    return LocalModel(req.model, req.backend)  # type: ignore[arg-type]


def is_fim(bench: Benchmark) -> bool:
    """Infilling benchmarks: the model is asked for a middle in FIM layout."""
    return bench.shape in ("infilling", "repo")


def _prepare_fim(backend: Any, bench: Benchmark, layout: str) -> tuple[list[PreparedPrompt], dict[str, Any]]:
    """FIM prompts with the model's own sentinels (an endpoint or the reference: StarCoder's)."""
    tokenizer = getattr(backend, "tokenizer", None)
    tokens = fim_tokens_of(tokenizer) if tokenizer is not None else STARCODER
    if isinstance(backend, LocalModel):
        backend.extra_stop_tokens = infill.stop_tokens(tokens)
    prepared = [prepare_fim(p, tokens, layout) for p in bench.problems]  # type: ignore[arg-type]
    return prepared, {
        "prompt_style": "fim",
        "fim_layout": layout,
        "fim_tokens": list(infill.stop_tokens(tokens)),
    }


def _generate(req: EvalRequest, source: str, bench: Benchmark) -> tuple[list[dict], dict[str, Any]]:
    """Generated samples (with the raw text kept) and the generation settings to record."""
    settings = req.settings
    backend = _backend(req, source)
    if is_fim(bench):
        if settings.prompt_style not in ("auto", "plain"):
            raise MixtuneError(
                f"--prompt-style {settings.prompt_style}: infilling benchmarks are asked in FIM layout "
                "(--fim-layout psm|spm), not through a chat template"
            )
        prepared, style_record = _prepare_fim(backend, bench, settings.fim_layout)
    else:
        chat = source == "openai" or backend.has_chat_template
        style = resolve_style(settings.prompt_style, chat)
        if style != "plain" and not chat:
            raise MixtuneError(f"{req.model}: --prompt-style {style} needs a tokenizer with a chat template")
        render = None if source == "openai" else getattr(backend, "render_chat", None)
        prepared = [prepare(p, style, render) for p in bench.problems]
        style_record = {"prompt_style": style}
    texts = backend.generate(prepared, settings)
    samples = []
    for p, outs in zip(prepared, texts, strict=True):
        for text in outs:
            samples.append(
                {"task_id": p.problem.task_id, "completion": postprocess(p, text), "raw_generation": text}
            )
    backend_name = (
        backend.backend if source != "openai" else ("openai-stream" if req.openai_stream else "openai")
    )
    record = {**settings.as_dict(), **style_record, "backend": backend_name, "stop": list(_stops(prepared))}
    return samples, record


def _stops(prepared: list[PreparedPrompt]) -> tuple[str, ...]:
    return prepared[0].stops if prepared else ()


def default_out(req: EvalRequest, source: str, label: str, bench: Benchmark, settings_hash: str) -> Path:
    run_dir = f"{_slug(bench.name.replace('[:', '-first'))}-{settings_hash}"
    if req.model and Path(req.model).is_dir() and source in ("local", "samples"):
        return Path(req.model) / results_io.MODEL_EVALS_DIR / run_dir
    if source == "samples":
        samples = Path(req.samples)  # type: ignore[arg-type]
        return samples.parent / f"{samples.stem}-eval" / run_dir
    return Path("runs") / "evals" / _slug(label) / run_dir


# MBPP has tasks that need several seconds of CPU; on a loaded 2-core machine 3 s is not enough.
BENCHMARK_TIMEOUTS = {"mbpp": 15.0}


def limits_for(bench: Benchmark, timeout: float | None, memory_mb: int | None) -> SandboxLimits:
    """The language's limits, the benchmark's own timeout default, then the user's overrides."""
    default = BENCHMARK_TIMEOUTS.get(bench.shape)
    return SandboxLimits.for_language(bench.language, timeout=timeout or default, memory_mb=memory_mb)


def run_evals(req: EvalRequest) -> list[Path]:
    """`--benchmark a,b,...`: one run (and one results.json) per benchmark."""
    names = [n.strip() for n in req.benchmark.split(",") if n.strip()]
    if not names:
        raise MixtuneError("--benchmark needs at least one name or file")
    if len(names) > 1 and req.out:
        raise MixtuneError("--out names one run directory; leave it out with several benchmarks")
    return [run_eval(replace(req, benchmark=name)) for name in names]


def _label(req: EvalRequest, source: str) -> str:
    """The run's display name: --name, else the served model, the model, or the samples file."""
    if req.name:
        return req.name
    if source == "openai":
        return str(req.openai_model)
    if source == "reference":
        return "reference"
    if source == "custom":
        return str(getattr(req.generator, "backend", "custom"))
    if req.model:
        return model_label(req.model)
    return Path(str(req.samples)).stem


def _execute(
    req: EvalRequest, bench: Benchmark, samples: list[dict]
) -> tuple[list[SampleResult], dict[str, Any]]:
    """Every sample run in the sandbox, and the execution settings to record."""
    limits = req.limits or limits_for(bench, req.timeout, req.memory_mb)
    with Sandbox(
        limits,
        req.workers,
        require_isolation=req.require_isolation,
        language=bench.language,
        engine=req.engine,
    ) as sandbox:
        executed = execute_samples(bench, samples, sandbox, show_progress=req.show_progress)
        isolation = sandbox.isolation()
        workers = sandbox.workers
    execution = {
        "language": bench.language,
        "timeout_s": limits.timeout,
        "compile_timeout_s": limits.compile_timeout,
        "memory_mb": limits.memory_mb,
        "nproc": limits.nproc,
        "workers": workers,
        "isolation": isolation,
    }
    return executed, execution


def _check_dir(req: EvalRequest) -> Path | None:
    """With --check-training-data: the model directory to check against, its indexes queried
    once before anything is generated (a missing index fails the run at once)."""
    if not req.check_training_data:
        return None
    model_dir = model_dir_for_check(req.model)
    preflight(model_dir, req.finder or default_finder())
    return model_dir


def _load(req: EvalRequest) -> Benchmark:
    if req.benchmark.startswith("repo:"):
        return load_repo_benchmark(req.benchmark, req.repo)
    return load_benchmark(req.benchmark)


def _score(
    req: EvalRequest, bench: Benchmark, samples: list[dict]
) -> tuple[list[dict], list[dict], dict[str, Any], dict[str, Any]]:
    """(sample rows, per-problem rows, summary, how they were scored): repo tasks by matching
    the masked text, every other benchmark by running its programs in the sandbox."""
    if bench.shape == "repo":
        rows, problems, summary = score_samples(bench, samples)
        scoring = {
            "scoring": "exact match and edit similarity against the masked text",
            "normalisation": "trailing whitespace per line and blank lines at both ends dropped",
            "edit_similarity": "1 - Levenshtein distance / longer length (rapidfuzz)",
        }
        return rows, problems, summary, scoring
    executed, execution = _execute(req, bench, samples)
    problems = per_problem(executed, bench)
    return [results_io.sample_row(r) for r in executed], problems, summarize(problems, req.ks), execution


def run_eval(req: EvalRequest) -> Path:
    """Run one evaluation and write its files; returns the path of results.json."""
    source = _source(req)
    full = _load(req)
    bench = full.first(req.limit)
    label = _label(req, source)
    check_dir = _check_dir(req)
    started = time.monotonic()
    if source == "samples":
        samples, generation = _samples_for(req, full, bench), {"samples_file": str(req.samples)}
    else:
        samples, generation = _generate(req, source, bench)
    generated = time.monotonic()
    rows, problems, summary, execution = _score(req, bench, samples)
    finished = time.monotonic()
    timing = {"generation_s": round(generated - started, 3), "execution_s": round(finished - generated, 3)}
    if check_dir is not None:
        summary["training_data"] = check_samples(check_dir, rows, req.finder)
        found = per_problem_found(rows)
        for p in problems:
            p["found_in_training_data"] = found[p["task_id"]]
        timing["training_data_s"] = round(time.monotonic() - finished, 3)
    lineage = (
        results_io.read_lineage(req.model)
        if source == "local" or (source == "samples" and req.model)
        else None
    )
    results = results_io.results_document(
        model={
            "name": label,
            "source": source,
            "path": req.openai_base_url if source == "openai" else (req.model or req.samples),
            "lineage": lineage,
        },
        bench=bench,
        generation=generation,
        execution=execution,
        summary=summary,
        timing=timing,
        problems=problems,
    )
    settings_hash = hash_obj(
        {
            "benchmark": bench.sha256,
            "problems": len(bench.problems),
            "generation": generation,
            "model": label,
        },
        10,
    )
    out = Path(req.out) if req.out else default_out(req, source, label, bench, settings_hash)
    return results_io.write_run(out, results, rows)


def evaluate_repo_infilling(
    model: str,
    path: str,
    *,
    tasks: RepoTaskSettings = RepoTaskSettings(),
    settings: GenerationSettings | None = None,
    out: str | None = None,
    name: str | None = None,
    generator: Any = None,
) -> dict[str, Any]:
    """Library call (the copilot demo's): `mixtune eval MODEL --benchmark repo:PATH` with
    greedy 128-token middles by default; returns {exact_match, edit_similarity, by_language,
    by_kind, tasks, results (the results.json path)}."""
    req = EvalRequest(
        model=model,
        benchmark=f"repo:{path}",
        settings=settings or GenerationSettings(max_new_tokens=128),
        out=out,
        name=name,
        repo=tasks,
        generator=generator,
        show_progress=False,
    )
    results_path = run_eval(req)
    res = results_io.load_results(results_path)
    return {
        **res["scores"],
        "by_language": res["by_language"],
        "by_kind": res["by_kind"],
        "tasks": res["n_problems"],
        "results": str(results_path),
    }
