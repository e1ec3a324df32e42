"""Mutation check: does the test suite fail when a guarded behaviour breaks?

Each entry of `MUTATIONS` is one realistic one-line bug, described by intent: the file, the
function it lives in, the exact original snippet and its replacement, what it breaks, and the
tests that must catch it. For each, the working tree (tracked files plus untracked files git does
not ignore; no `runs/` or caches) is copied to a throwaway directory, the mutation is applied
there, and the named tests run in that copy:

    python3 -m pytest -x -q -p no:cacheprovider <tests>     (HF_HUB_OFFLINE=1, PYTHONPATH=the copy)

A mutation is *caught* when pytest reports a failing test (the first one is printed), *not
caught* when the tests pass. A snippet that no longer occurs exactly once in its function is an
error ("mutation no longer applies: <file>:<function> snippet not found"), so an entry is re-aimed
after a refactor instead of silently testing nothing. Before any mutation, every named test runs
once on an unmutated copy (the baseline): a mutation whose tests already fail there is an error,
not a catch (a file whose failure goes away when it runs alone is reported as flaky). Mutations
marked `exclusive` (the sandbox suites, which watch processes by uid) run one at a time after the
others.

    python bench/mutation.py                 # every mutation, one at a time
    python bench/mutation.py --jobs 2        # two at a time (each in its own copy)
    python bench/mutation.py --only NAME     # one (or several: --only a --only b)
    python bench/mutation.py --list          # the list, nothing run; exit 1 if one no longer applies
    python bench/mutation.py --committed     # mutate the last commit instead of the working tree

Run before resolving an issue, not in CI: the whole list takes about 25 minutes with --jobs 2 on a
busy 2-core machine.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"runs", "__pycache__", ".pytest_cache", ".ruff_cache", ".git", "build", "dist"}
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header", "-rfE"]


@dataclass(frozen=True)
class Mutation:
    """One deliberate bug: in `function` of `file`, `original` becomes `replacement`."""

    name: str
    area: str
    file: str
    function: str  # "name", "Class.method", or "<module>" for module-level code
    original: str
    replacement: str
    breaks: str
    tests: tuple[str, ...]
    exclusive: bool = False  # its tests must not run beside another mutation's (shared uids, timing)


M = Mutation
MIX = "tests/mixtures"
ACCOUNTING = f"{MIX}/test_accounting_guards.py"
DECON = f"{MIX}/test_decontamination_guards.py"
DECON_SHORT = f"{MIX}/test_decontamination_short.py"
SANDBOX = ("tests/evals/test_sandbox_hostile.py", "tests/evals/test_sandbox_degraded.py")
VERDICTS = "tests/evals/test_verdict_integrity.py"

MUTATIONS: tuple[Mutation, ...] = (
    # ------------------------------------------------------------------ mixtures: accounting
    M(
        "own-test-split-rejects-unwritten",
        "mixtures",
        "mixtures/build.py",
        "build_mixture",
        'filter_rejects={"train": train_rejected, "test": test_rejected},',
        'filter_rejects={"train": train_rejected, "test": None},',
        "filter rejects of a source's own test split are counted but never written to rejects/",
        (ACCOUNTING,),
    ),
    M(
        "own-test-split-unfiltered",
        "mixtures",
        "mixtures/build.py",
        "build_mixture",
        "test_rejected, test_filter_stats = run_filters(recipe, recipe_path, test_sides, num_proc)",
        "test_rejected, test_filter_stats = None, {}",
        "a source's own test split skips the filters (contaminated or duplicate test rows kept)",
        (ACCOUNTING,),
    ),
    M(
        "filter-drops-uncounted",
        "mixtures",
        "mixtures/build.py",
        "run_filters",
        "side.drop(reason, n)",
        "side.drop(reason, 0)",
        "rows removed by filters vanish from the per-source counts (rows in != kept + dropped)",
        (ACCOUNTING,),
    ),
    M(
        "normalise-rejects-uncounted",
        "mixtures",
        "mixtures/build.py",
        "normalise_side",
        'result.drop(item["values"], item["counts"])',
        'result.drop(item["values"], 0)',
        "rows that fit no format (on_error: skip) vanish from the per-source counts",
        (ACCOUNTING, f"{MIX}/test_bad_input.py"),
    ),
    M(
        "holdout-rows-also-trained",
        "mixtures",
        "mixtures/sampling.py",
        "holdout_rows",
        "return np.sort(perm[k:]).astype(np.int64), np.sort(perm[:k]).astype(np.int64)",
        "return np.sort(perm).astype(np.int64), np.sort(perm[:k]).astype(np.int64)",
        "held-out test rows are also in the training split",
        (f"{MIX}/test_weights.py", f"{MIX}/test_build_stages.py"),
    ),
    M(
        "mixture-hash-ignores-inputs",
        "mixtures",
        "mixtures/build.py",
        "mixture_hash",
        '"inputs": fingerprints',
        '"inputs": {}',
        "changed input files give the same hash: a stale mixture is returned as up to date",
        (f"{MIX}/test_hash_cache.py",),
    ),
    M(
        "opt-out-authors-ignored",
        "mixtures",
        "mixtures/opt_out.py",
        "Matcher.covers",
        "if self.author_re is not None and any(self.author_re.search(c) for c in contents):",
        "if False:",
        "rows carrying an opted-out author's notice stay in the mixture",
        (f"{MIX}/test_opt_out.py",),
    ),
    M(
        "opt-out-drops-uncounted",
        "mixtures",
        "mixtures/opt_out.py",
        "apply_opt_out",
        "side.drop(OPT_OUT, len(drop))",
        "None",
        "opted-out rows leave the mixture without being counted (rows in != kept + dropped)",
        (f"{MIX}/test_opt_out.py",),
    ),
    M(
        "search-near-matches-lost",
        "mixtures",
        "mixtune/attribution/index.py",
        "SearchIndex.near_candidates",
        "hits[seg] = hits.get(seg, 0) + 1",
        "pass",
        "mix search no longer finds edited copies (MinHash band candidates dropped): recall falls",
        (f"{MIX}/test_index_search.py",),
    ),
    M(
        "search-exact-lines-not-normalised",
        "mixtures",
        "mixtune/attribution/index.py",
        "normalise_line",
        'return " ".join(line.split())',
        "return line",
        "an exact query with other indentation or spacing no longer finds the training row",
        (f"{MIX}/test_index_search.py",),
    ),
    M(
        "normalise-alternation-unchecked",
        "mixtures",
        "mixtures/formats.py",
        "check_conversation",
        'expected = ("assistant",)',
        'expected = ("assistant", "user")',
        "two user turns in a row (turns that do not alternate) are accepted",
        (f"{MIX}/test_formats.py", f"{MIX}/test_bad_input.py"),
    ),
    M(
        "normalise-last-turn-unchecked",
        "mixtures",
        "mixtures/formats.py",
        "check_conversation",
        'if messages[-1]["role"] != end:',
        "if False:",
        "SFT conversations that end with the user's turn (nothing to learn) are accepted",
        (f"{MIX}/test_formats.py", f"{MIX}/test_bad_input.py"),
    ),
    M(
        "preference-prompt-not-cut-at-user",
        "mixtures",
        "mixtures/formats.py",
        "_split_shared_prefix",
        'while n > 0 and chosen[n - 1]["role"] != "user":',
        "while False:",
        "an implicit-prompt preference pair keeps a shared assistant turn in its prompt",
        (f"{MIX}/test_formats.py", "tests/dpo/test_preference_prompt.py"),
    ),
    # ------------------------------------------------------------------ filters
    M(
        "decontam-one-informative-word",
        "filters",
        "mixtures/filters/decontaminate.py",
        "<module>",
        "MIN_INFORMATIVE_WORDS = 2",
        "MIN_INFORMATIVE_WORDS = 1",
        "benchmark n-grams with a single informative word (loops, digit runs) become evidence: false flags",
        (DECON,),
    ),
    M(
        "decontam-boilerplate-cap-removed",
        "filters",
        "mixtures/filters/decontaminate.py",
        "BenchmarkIndex.__init__",
        "common = counts > MAX_PROBLEMS_PER_NGRAM",
        "common = counts < 0",
        "n-grams shared by many benchmark problems (boilerplate) flag ordinary code",
        (DECON,),
    ),
    M(
        "decontam-whitelist-noop",
        "filters",
        "mixtures/filters/decontaminate.py",
        "_strip_whitelisted",
        'return "\\n".join(line for line in text.splitlines() if normalize(line) not in whitelist)',
        "return text",
        "whitelisted trivial lines stay in the benchmark snippets and flag rows",
        (DECON,),
    ),
    M(
        "decontam-ngram-match-off",
        "filters",
        "mixtures/filters/decontaminate.py",
        "BenchmarkIndex.check_turns",
        "hit = self.grams[pos] == grams",
        "hit = self.grams[pos] != self.grams[pos]",
        "a pasted benchmark prompt is no longer found by n-gram overlap",
        (DECON,),
    ),
    M(
        "decontam-code-lines-off",
        "filters",
        "mixtures/filters/decontaminate.py",
        "BenchmarkIndex.check_code",
        "if lines[i : i + len(sequence)] == sequence:",
        "if False:",
        "a short benchmark solution pasted with new spacing is not found by its code lines",
        (DECON_SHORT, DECON),
    ),
    M(
        "decontam-function-tree-off",
        "filters",
        "mixtures/filters/decontaminate.py",
        "BenchmarkIndex.check_code",
        "if key in self.functions:",
        "if False:",
        "a benchmark function copied with a comment on every line is no longer found (its syntax tree is)",
        (DECON_SHORT, DECON),
    ),
    M(
        "decontam-whole-turn-off",
        "filters",
        "mixtures/filters/decontaminate.py",
        "BenchmarkIndex.check_turns",
        "if found[turn] is None and self.whole and whole_turn_key(text) in self.whole:",
        "if False:",
        "a short benchmark prompt asked verbatim as a whole turn is not flagged",
        (DECON_SHORT, DECON),
    ),
    M(
        "decontam-trivial-functions-evidence",
        "filters",
        "mixtures/filters/decontaminate.py",
        "<module>",
        "MIN_FUNCTION_NODES = 12",
        "MIN_FUNCTION_NODES = 1",
        "one-line benchmark functions (return a + b) become evidence: ordinary rows flagged",
        (DECON_SHORT, DECON),
    ),
    M(
        "exact-dedup-not-normalised",
        "filters",
        "mixtures/filters/dedup.py",
        "ExactKeyer.__call__",
        "normalize(content) if self.normalize else content",
        "content",
        "copies differing only in whitespace/case are no longer exact duplicates",
        (f"{MIX}/test_filters_dedup.py",),
    ),
    M(
        "dedup-keep-longest-ignored",
        "filters",
        "mixtures/filters/dedup.py",
        "survivors",
        "order = np.lexsort((index, -lengths.astype(np.int64), groups))",
        "order = np.lexsort((index, groups))",
        "keep: longest keeps the first copy instead of the longest",
        (f"{MIX}/test_filters_dedup.py",),
    ),
    M(
        "near-dedup-verify-ignores-threshold",
        "filters",
        "mixtures/filters/dedup.py",
        "run_near",
        "edges = edges[jaccard >= cfg.threshold]",
        "edges = edges",
        "verify: true no longer removes candidate pairs below the Jaccard threshold",
        (f"{MIX}/test_filters_dedup.py",),
    ),
    M(
        "pii-redaction-noop",
        "filters",
        "mixtures/filters/pii.py",
        "PIIRedactor.__call__",
        '{**message, "content": new_text} if c and self.action == "redact" else message',
        "message",
        "PII is counted but the text is written unredacted",
        (f"{MIX}/test_filters_content.py",),
    ),
    M(
        "pii-private-ip-redacted",
        "filters",
        "mixtures/filters/pii.py",
        "_public_ip",
        "if not ip.is_global or ip.is_multicast or ip.is_reserved:",
        "if ip.is_multicast or ip.is_reserved:",
        "private addresses (127.0.0.1, 192.168.x.x) are redacted as if they were personal",
        (f"{MIX}/test_filters_content.py",),
    ),
    # ------------------------------------------------------------------ training: loss masks
    M(
        "sft-loss-on-user-turns",
        "training",
        "mixtune/chat_format.py",
        "_jinja",
        r"""f"{{{{- {own_turn} + (message['content'] or '') + '{end}\n' }}}}""",
        r"""f"{{%- generation %}}{{{{- {own_turn} + (message['content'] or '') + '{end}\n' }}}}{{%- endgeneration %}}""",
        "the chat template marks user and system turns for training: loss on the prompt",
        ("tests/sft/test_labels.py",),
    ),
    M(
        "sft-assistant-only-loss-off",
        "training",
        "sft/train.py",
        "SFTStage.encode",
        'run.args.assistant_only_loss = any(c in columns for c in ("messages", "conversations"))',
        "run.args.assistant_only_loss = False",
        "conversational SFT trains on every token by default",
        ("tests/sft/test_labels.py",),
    ),
    M(
        "tool-call-never-answered-accepted",
        "mixtures",
        "mixtures/formats.py",
        "check_conversation",
        'expected = ("tool",) if msg.get("tool_calls") else ("user",)',
        'expected = ("tool", "user")',
        "an assistant turn that calls a tool may be followed by the user instead of the tool's result",
        (f"{MIX}/test_formats.py",),
    ),
    M(
        "tool-results-trained",
        "training",
        "mixtune/chat_format.py",
        "_jinja",
        r'''"{{- '<tool_response>\n' + (message['content'] or '') + '\n</tool_response>' }}"''',
        r'''"{%- generation %}{{- '<tool_response>\n' + (message['content'] or '') + '\n</tool_response>' }}{%- endgeneration %}"''',
        "tool results fall inside the trained span: the model learns to write what tools return",
        (
            "tests/test_chat_format.py",
            "tests/sft/test_tool_calling.py::test_prepared_rows_train_on_calls_never_on_tool_results",
        ),
    ),
    M(
        "packed-rows-share-positions",
        "training",
        "mixtune/training/batching.py",
        "pack_rows",
        "positions = (keep.long().cumsum(-1) - 1).clamp(min=0)",
        "positions = (keep.long().flatten().cumsum(-1) - 1).view_as(keep)",
        "padding-free packed rows keep counting positions: examples attend to each other",
        ("tests/training/test_packing.py",),
    ),
    M(
        "sft-truncated-rows-uncounted",
        "training",
        "sft/trainer.py",
        "preparation_stats",
        'truncated={"sequences": len(long_rows) - emptied},',
        'truncated={"sequences": 0},',
        "SFT rows cut to max_length go unrecorded (the run record says nothing was truncated)",
        ("tests/sft/test_labels.py",),
    ),
    M(
        "card-warmup-ratio-as-steps",
        "training",
        "mixtune/training/model_card.py",
        "hyperparameter_rows",
        'if key == "warmup_steps" and isinstance(value, float) and 0 < value < 1:',
        "if False:",
        "the model card shows a recipe's warmup_ratio 0.1 as 'warmup_steps 0.1'",
        ("tests/training/test_run_outputs.py",),
    ),
    # ------------------------------------------------------------------ DPO encoding
    M(
        "dpo-prompt-may-end-with-assistant",
        "dpo",
        "dpo/encoding.py",
        "_shape_problem",
        'if prompt[-1].get("role") == "assistant":',
        "if False:",
        "a preference prompt ending with an assistant turn is encoded (the answer sits in the prompt)",
        ("tests/dpo/test_preference_prompt.py",),
    ),
    M(
        "dpo-chosen-rejected-swapped",
        "dpo",
        "dpo/encoding.py",
        "encode_pair",
        '"chosen_ids": completions["chosen"],',
        '"chosen_ids": completions["rejected"],',
        "the rejected answer is trained as the chosen one",
        ("tests/dpo/test_encoding.py", "tests/dpo/test_preference_prompt.py"),
    ),
    M(
        "dpo-skipped-mismatch-uncounted",
        "dpo",
        "dpo/encoding.py",
        "encode_preferences",
        "stats.dropped = dict(sorted(counts.items()))",
        'stats.dropped = {k: v for k, v in sorted(counts.items()) if k != "prompt_mismatch"}',
        "pairs dropped by prompt_mismatch: skip are not counted",
        ("tests/dpo/test_encoding.py",),
    ),
    M(
        "dpo-long-prompt-keeps-start",
        "dpo",
        "dpo/encoding.py",
        "encode_pair",
        "prompt_ids = prompt_ids[-max_prompt_length:]",
        "prompt_ids = prompt_ids[:max_prompt_length]",
        "a long prompt loses its end (the question) instead of its start",
        ("tests/dpo/test_encoding.py",),
    ),
    # ------------------------------------------------------------------ evals
    M(
        "sandbox-no-network-namespace",
        "evals",
        "evals/sandbox_child.py",
        "enter_program_namespaces",
        "full = CLONE_NEWNET | CLONE_NEWPID",
        "full = CLONE_NEWPID",
        "programs keep the host's network (falls back to in-process blocking, bypassable with ctypes)",
        (*SANDBOX, VERDICTS),
        exclusive=True,
    ),
    M(
        "sandbox-socket-fallback-inverted",
        "evals",
        "evals/sandbox_child.py",
        "run_program",
        'if isolation["net"] != "namespace":',
        'if isolation["net"] == "namespace":',
        "without a network namespace, sockets are not blocked in-process",
        (*SANDBOX, VERDICTS),
        exclusive=True,
    ),
    M(
        "sandbox-runs-as-root",
        "evals",
        "evals/sandbox_child.py",
        "drop_privileges",
        "os.setresuid(uid, uid, uid)",
        "None",
        "programs keep root's uid: root-owned files (outside the read-only view) can be changed",
        SANDBOX,
        exclusive=True,
    ),
    M(
        "verdict-pass-without-proof",
        "evals",
        "evals/sandbox.py",
        "Sandbox._classify",
        "if code == 0 and proved:",
        "if code == 0:",
        "a program that exits 0 before its tests ran (sys.exit(0), os._exit(0)) counts as passed",
        (*SANDBOX, VERDICTS),
        exclusive=True,
    ),
    M(
        "verdict-forged-proof-accepted",
        "evals",
        "evals/sandbox.py",
        "Sandbox._classify",
        'hmac.compare_digest(r["secret"].encode("ascii", "replace"), secret.encode("ascii"))',
        "True",
        "a program that prints its own proof line (any secret) gets a pass",
        (VERDICTS,),
        exclusive=True,
    ),
    M(
        "passk-off-by-one",
        "evals",
        "evals/passk.py",
        "pass_at_k",
        "for i in range(n - c + 1, n + 1):",
        "for i in range(n - c, n + 1):",
        "pass@k no longer matches 1 - C(n-c, k) / C(n, k)",
        ("tests/evals/test_passk.py",),
    ),
    M(
        "bootstrap-ci-too-narrow",
        "evals",
        "evals/stats.py",
        "bootstrap_ci",
        "alpha = (1 - level) / 2",
        "alpha = 1 - level",
        "a 90% interval is reported as the 95% one",
        ("tests/evals/test_compare.py",),
    ),
    M(
        "paired-bootstrap-p-uncorrected",
        "evals",
        "evals/stats.py",
        "paired_bootstrap",
        "extreme = np.sum(np.abs(means - observed) >= abs(observed) - 1e-12)",
        "extreme = np.sum(means - observed >= abs(observed) - 1e-12)",
        "the paired bootstrap p-value is one-sided (half the evidence needed)",
        ("tests/evals/test_compare.py", "tests/evals/test_stats_guards.py"),
    ),
    M(
        "mcnemar-one-sided",
        "evals",
        "evals/stats.py",
        "mcnemar_exact",
        "return min(1.0, 2 * tail)",
        "return min(1.0, tail)",
        "the exact McNemar test becomes one-sided",
        ("tests/evals/test_compare.py",),
    ),
    M(
        "holm-not-monotone",
        "evals",
        "evals/stats.py",
        "holm",
        "running = max(running, min(1.0, (m - rank) * p_values[i]))",
        "running = min(1.0, (m - rank) * p_values[i])",
        "Holm-adjusted p-values lose their step-down monotonicity",
        ("tests/evals/test_compare.py",),
    ),
    # ------------------------------------------------------------------ chat_ui
    M(
        "feedback-log-unlocked",
        "chat_ui",
        "chat_ui/feedback.py",
        "append_jsonl",
        "fcntl.flock(fd, fcntl.LOCK_EX)",
        "None",
        "feedback rows are appended without the exclusive lock other writers and readers rely on",
        ("tests/chat_ui/test_feedback_lock.py",),
    ),
    M(
        "feedback-log-not-append",
        "chat_ui",
        "chat_ui/feedback.py",
        "append_jsonl",
        "os.O_WRONLY | os.O_APPEND | os.O_CREAT",
        "os.O_WRONLY | os.O_CREAT",
        "each vote overwrites the start of the log instead of appending",
        ("tests/chat_ui/test_feedback.py",),
    ),
    M(
        "vote-chosen-rejected-swapped",
        "chat_ui",
        "chat_ui/feedback.py",
        "preference_row",
        "chosen, rejected = answers[vote], answers[loser]",
        "chosen, rejected = answers[loser], answers[vote]",
        "an arena vote records the losing answer as chosen",
        ("tests/chat_ui/test_feedback.py",),
    ),
    M(
        "model-output-not-escaped",
        "chat_ui",
        "chat_ui/conversation.py",
        "escape_markup",
        'lambda s: _TAG_START.sub("&lt;", _ENTITY.sub("&amp;", s))',
        "lambda s: s",
        "HTML in model output reaches the page as HTML (tags swallowed, scripts possible)",
        ("tests/chat_ui/test_conversation.py",),
    ),
    M(
        "stop-ignores-cancel",
        "chat_ui",
        "chat_ui/generate_thread.py",
        "GenerateThread.halted",
        "return self.stop.is_set() or (self.cancel is not None and self.cancel.is_set())",
        "return self.stop.is_set()",
        "Stop no longer ends an in-process generation",
        ("tests/chat_ui/test_transformers_backend.py",),
    ),
    M(
        "fim-epoch-restarts-on-resume",
        "completion",
        "completion/train.py",
        "epoch_callback",
        "dataset.set_epoch(math.floor((state.epoch or 0.0) + 1e-6))",
        'dataset.set_epoch(self.__dict__.setdefault("n", 0)); self.n += 1',  # counts epochs in this process
        "a resumed completion run redraws its FIM splits as if the first epoch began again",
        ("tests/completion/test_resume.py",),
    ),
    M(
        "openai-stop-ignores-cancel",
        "chat_ui",
        "chat_ui/openai_backend.py",
        "OpenAIBackend._read_events",
        "return closed.is_set() or (cancel is not None and cancel.is_set())",
        "return closed.is_set()",
        "Stop no longer closes the stream to an OpenAI-compatible server (vLLM keeps generating)",
        ("tests/chat_ui/test_openai_serve.py",),
    ),
    M(
        "session-cancel-noop",
        "chat_ui",
        "chat_ui/sessions.py",
        "CancelRegistry.cancel",
        "running += not event.is_set()\n                event.set()",
        "running += not event.is_set()",
        "the Stop button's session switch does not stop the reply",
        ("tests/chat_ui/test_app.py",),
    ),
    M(
        "stopped-arena-round-votable",
        "chat_ui",
        "chat_ui/arena.py",
        "ArenaRound.votable",
        'return all(self.finish[s] in ("stop", "length") for s in SIDES)',
        "return self.complete",
        "a stopped or failed arena round can be voted on (a truncated answer becomes preference data)",
        ("tests/chat_ui/test_app.py",),
    ),
)


class MutationError(Exception):
    """A mutation that no longer matches the code it was aimed at."""


def _function_span(tree: ast.Module, qualname: str) -> tuple[int, int] | None:
    """(first line, last line), 1-based, of a function or class named by a dotted path."""
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in qualname.split("."):
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = node.body  # type: ignore[attr-defined]
    assert node is not None
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first, node.end_lineno or node.lineno


def mutate_source(text: str, mutation: Mutation) -> str:
    """The file's text with the mutation applied; MutationError when it does not apply exactly once."""
    where = f"{mutation.file}:{mutation.function}"
    if mutation.function == "<module>":
        start, end = 0, len(text)
    else:
        span = _function_span(ast.parse(text), mutation.function)
        if span is None:
            raise MutationError(f"mutation no longer applies: {where} function not found")
        lines = text.splitlines(keepends=True)
        start = sum(len(line) for line in lines[: span[0] - 1])
        end = start + sum(len(line) for line in lines[span[0] - 1 : span[1]])
    segment = text[start:end]
    count = segment.count(mutation.original)
    if count == 0:
        raise MutationError(f"mutation no longer applies: {where} snippet not found: {mutation.original!r}")
    if count > 1:
        raise MutationError(f"mutation no longer applies: {where} snippet occurs {count} times (must be 1)")
    return text[:start] + segment.replace(mutation.original, mutation.replacement) + text[end:]


def tree_files(repo: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files, minus run outputs and caches."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout.decode()
    files = []
    for rel in sorted(set(filter(None, out.split("\0")))):
        if SKIP_DIRS.intersection(Path(rel).parts) or not (repo / rel).is_file():
            continue
        files.append(rel)
    return files


def snapshot(repo: Path, committed: bool) -> tuple[Path, int]:
    """One copy of the tree (the working tree, or with `committed` the last commit), taken once so
    every mutation sees the same files even while people keep editing; (its path, file count)."""
    dest = Path(tempfile.mkdtemp(prefix="mutation-snapshot-")) / repo.name
    dest.mkdir()
    if committed:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=repo, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return dest, sum(1 for f in dest.rglob("*") if f.is_file())
    count = 0
    for rel in tree_files(repo):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(repo / rel, target)
        except FileNotFoundError:  # removed between listing and copying
            continue
        count += 1
    return dest, count


def copy_tree(source: Path, dest: Path) -> None:
    """Copy the snapshot; `../shared` (benchmark files the tests read) is linked beside it."""
    shutil.copytree(source, dest, symlinks=True)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (dest.parent / "shared").symlink_to(shared)


@dataclass
class Outcome:
    mutation: Mutation
    status: str  # "caught", "NOT CAUGHT", "error"
    detail: str
    seconds: float


_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.M)


def _first_failure(output: str) -> str:
    match = _FAILED.search(output)
    if match:
        return match.group(1)
    tail = [line for line in output.strip().splitlines() if line.strip()]
    return tail[-1] if tail else "(no output)"


def _prepare(source: Path, tag: str) -> tuple[Path, Path, dict[str, str]]:
    """A throwaway copy of the snapshot: (temporary root, repository copy, environment for pytest)."""
    root = Path(tempfile.mkdtemp(prefix=f"mutation-{tag}-"))
    work = root / REPO.name
    copy_tree(source, work)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    probe = subprocess.run(
        [sys.executable, "-c", "import mixtures; print(mixtures.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0 and not probe.stdout.strip().startswith(str(work)):
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"the copy imports code from {probe.stdout.strip()}, not from {work}")
    return root, work, env


def run_one(mutation: Mutation, source: Path, timeout: float) -> Outcome:
    started = time.monotonic()

    def outcome(status: str, detail: str) -> Outcome:
        return Outcome(mutation, status, detail, time.monotonic() - started)

    root, work, env = _prepare(source, mutation.name)
    try:
        path = work / mutation.file
        try:
            path.write_text(mutate_source(path.read_text(encoding="utf-8"), mutation), encoding="utf-8")
        except (MutationError, OSError) as exc:
            return outcome("error", str(exc))
        try:
            proc = subprocess.run(
                [*PYTEST, "-x", *mutation.tests],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return outcome("caught", f"(the tests ran past {timeout:g}s)")
        output = proc.stdout + proc.stderr
        if proc.returncode == 0:
            return outcome("NOT CAUGHT", "all named tests pass")
        if proc.returncode == 1 or (proc.returncode in (2, 3) and _FAILED.search(output)):
            return outcome("caught", _first_failure(output))
        # 2: interrupted or a collection error, 4: usage error (e.g. a missing test file), 5: no tests
        last = output.strip().splitlines()[-3:] if output.strip() else ["(no output)"]
        return outcome("error", f"pytest exit {proc.returncode}: {' | '.join(last)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def baseline(mutations: list[Mutation], source: Path, timeout: float) -> dict[str, str]:
    """Run every named test once on the unmutated copy; {mutation name: why it cannot be judged}
    for mutations whose tests fail (or cannot run) without any mutation. A test file with a
    failure is run again on its own: one that passes then is reported as flaky, not as broken."""
    tests = sorted({t for m in mutations for t in m.tests})
    root, work, env = _prepare(source, "baseline")
    try:
        missing = [t for t in tests if not (work / t.split("::")[0]).exists()]
        present = [t for t in tests if t not in missing]
        proc = subprocess.run(
            [*PYTEST, *present], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
        )
        output = proc.stdout + proc.stderr
        failing = _FAILED.findall(output)
        if proc.returncode not in (0, 1) and not failing:
            last = output.strip().splitlines()[-3:] if output.strip() else ["(no output)"]
            return {m.name: f"baseline pytest exit {proc.returncode}: {' | '.join(last)}" for m in mutations}
        for test_file in sorted({f.split("::")[0] for f in failing}):
            again = subprocess.run(
                [*PYTEST, test_file], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
            )
            if again.returncode == 0:
                flaky = [f for f in failing if f.startswith(test_file + "::")]
                print(f"baseline: flaky, failed beside the other tests and passed alone: {flaky}", flush=True)
                failing = [f for f in failing if f not in flaky]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bad: dict[str, str] = {}
    for m in mutations:
        gone = [t for t in m.tests if t in missing]
        failed = [f for f in failing for t in m.tests if f == t or f.startswith(t.rstrip("/") + "::")]
        if gone:
            bad[m.name] = f"test file missing: {gone[0]}"
        elif failed:
            bad[m.name] = f"fails without the mutation: {failed[0]}"
    return bad


def check_applies(mutations: list[Mutation]) -> list[str]:
    """Errors for mutations that no longer apply to the working tree (fast; nothing copied)."""
    errors = []
    for m in mutations:
        try:
            mutate_source((REPO / m.file).read_text(encoding="utf-8"), m)
        except (MutationError, OSError, SyntaxError) as exc:
            errors.append(str(exc))
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this mutation (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the mutations and exit")
    parser.add_argument("--jobs", type=int, default=1, help="mutations run at a time (default 1)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutation's test run")
    parser.add_argument(
        "--committed",
        action="store_true",
        help="mutate the last commit (git archive HEAD) instead of the working tree",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the unmutated run of the named tests (a failure there makes 'caught' meaningless)",
    )
    args = parser.parse_args(argv)

    names = [m.name for m in MUTATIONS]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        parser.error(f"duplicate mutation names: {sorted(duplicates)}")
    selected = list(MUTATIONS)
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            parser.error(f"unknown mutation(s) {unknown}; --list shows them")
        selected = [m for m in MUTATIONS if m.name in args.only]

    if args.list:
        for m in selected:
            print(f"{m.name}  [{m.area}]  {m.file}:{m.function}")
            print(f"    breaks: {m.breaks}")
            print(f"    {m.original!r} -> {m.replacement!r}")
            print(f"    tests: {' '.join(m.tests)}")
        stale = check_applies(selected)
        for line in stale:
            print(line)
        return 1 if stale else 0

    source, count = snapshot(REPO, args.committed)
    try:
        return _run_all(selected, source, count, args)
    finally:
        shutil.rmtree(source.parent, ignore_errors=True)


def _run_all(selected: list[Mutation], source: Path, count: int, args: argparse.Namespace) -> int:
    tree = "the last commit" if args.committed else "the working tree"
    print(f"{len(selected)} mutation(s) of {tree} ({count} files), {args.jobs} at a time", flush=True)
    unusable: dict[str, str] = {}
    if not args.no_baseline:
        started = time.monotonic()
        unusable = baseline(selected, source, args.timeout * 2)
        ok = len(selected) - len(unusable)
        print(
            f"baseline: the named tests pass unmutated for {ok}/{len(selected)} mutation(s) "
            f"({time.monotonic() - started:.0f}s)",
            flush=True,
        )
    width = max(len(m.name) for m in selected)
    outcomes: list[Outcome] = []

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        m = outcome.mutation
        print(
            f"{outcome.status:<10} {m.name:<{width}}  {m.area:<8} {outcome.seconds:6.1f}s  {outcome.detail}",
            flush=True,
        )

    runnable = []
    for m in selected:
        if m.name in unusable:
            report(Outcome(m, "error", unusable[m.name], 0.0))
        else:
            runnable.append(m)
    shared = [m for m in runnable if not m.exclusive]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for outcome in pool.map(lambda m: run_one(m, source, args.timeout), shared):
            report(outcome)
    for m in runnable:
        if m.exclusive:  # tests that must not share the machine with another run of themselves
            report(run_one(m, source, args.timeout))
    caught = sum(o.status == "caught" for o in outcomes)
    errors = [o for o in outcomes if o.status == "error"]
    if errors:
        print(f"{len(errors)} mutation(s) could not be checked (see 'error' rows)")
    print(f"{caught}/{len(outcomes)} mutations caught")
    return 0 if caught == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
