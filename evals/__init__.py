"""Code benchmarks with sandboxed execution, pass@k, and comparison of runs and mixtures.

Library entry points (the CLI is `mixtune eval` / `mixtune compare`):

- `evals.benchmarks.load_benchmark(name | path)`: HumanEval, HumanEval infilling, MBPP,
  MultiPL-E or HumanEval-X problems, each in its own published shape.
- `evals.repo.load_repo_benchmark("repo:PATH")`: masked lines and spans of a code directory or
  a completion mixture's test split; `evals.evaluate.evaluate_repo_infilling(model, path)`
  scores a model on them (exact match, edit similarity).
- `evals.infill`: FIM prompts, stops and middles; `evals.reference_backend`: each task's own
  answer as a generator (harness checks).
- `evals.training_data.check_samples`: samples looked up in a model's training mixtures.
- `evals.sandbox.Sandbox(language=...)`: isolated, resource-limited execution of untrusted
  programs (Python, JavaScript, C++, Java, Rust; `evals.languages`), verdicts from a proof the
  program cannot produce.
- `evals.execution.execute_samples` / `per_problem` / `summarize`: verdicts and pass@k.
- `evals.evaluate.run_eval(EvalRequest(...))`: one full evaluation run, written to disk
  (`run_evals` for several benchmarks).
- `evals.results`: the run's files (`results.json`, `samples.jsonl`): names, schema, writing
  and `load_results` / `find_results` / `read_samples` to read them back.
- `evals.compare.compare_runs` + `evals.report.write_report`: the leaderboard.
"""
