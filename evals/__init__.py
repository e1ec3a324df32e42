"""Code benchmarks with sandboxed execution, pass@k, and comparison of runs and mixtures.

Library entry points (the CLI is `mixtune eval` / `mixtune compare`):

- `evals.benchmarks.load_benchmark("humaneval" | path)`: problems in HumanEval's shape.
- `evals.sandbox.Sandbox`: isolated, resource-limited execution of untrusted programs.
- `evals.execution.execute_samples` / `per_problem` / `summarize`: verdicts and pass@k.
- `evals.evaluate.run_eval(EvalRequest(...))`: one full evaluation run, written to disk.
- `evals.compare.compare_runs` + `evals.report.write_report`: the leaderboard.
"""
