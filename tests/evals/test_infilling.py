"""HumanEval infilling from the published files: shapes, the FIM prompt, the middle's
post-processing, canonical middles passing and empty or hostile middles failing in the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import infill
from evals.benchmarks import load_benchmark
from evals.evaluate import EvalRequest, run_eval
from evals.execution import execute_samples
from evals.generate import GenerationSettings, LocalModel, postprocess, prepare_fim
from evals.results import load_results
from mixtune.cli import main
from mixtune.errors import MixtuneError
from mixtune.fim import STARCODER

DATA = Path(__file__).resolve().parents[2] / "../shared/benchmarks/human-eval-infilling"
SETS = {
    "single": ("HumanEval-SingleLineInfilling.jsonl.gz", 1033, "line"),
    "multi": ("HumanEval-MultiLineInfilling.jsonl.gz", 5815, "lines"),
    "light": ("HumanEval-RandomSpanInfillingLight.jsonl.gz", 164, "span"),
}


@pytest.fixture(scope="module")
def sets():
    return {key: load_benchmark(str(DATA / name)) for key, (name, _, _) in SETS.items()}


class Canned:
    """A generator that answers every task with the same raw text (or per task id)."""

    backend = "canned"
    has_chat_template = False
    tokenizer = None

    def __init__(self, text: str = "", by_task: dict[str, str] | None = None) -> None:
        self.text, self.by_task = text, by_task or {}

    def generate(self, prepared, settings):
        return [[self.by_task.get(p.problem.task_id, self.text)] * settings.n for p in prepared]


def test_the_published_files_load_in_their_own_shape(sets):
    for key, (_, rows, unit) in SETS.items():
        bench = sets[key]
        assert (len(bench.problems), bench.shape, bench.language) == (rows, "infilling", "python")
        assert {p.infill_unit for p in bench.problems} == {unit}
    p = sets["single"].problems[0]
    assert p.task_id == "SingleLineInfilling/HumanEval/0/L0"
    assert p.canonical_solution == "    for idx, elem in enumerate(numbers):\n"
    program, test = p.program(p.canonical_solution)
    assert program == p.prompt + p.canonical_solution + p.suffix
    assert test.endswith("check(_mixtune_candidate)\n")


def test_a_row_without_suffix_text_is_an_error_naming_file_and_line(tmp_path):
    rows = [{"task_id": "t/0", "entry_point": "f", "prompt": "def f():\n", "suffix": 3, "test": ""}]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(MixtuneError, match=r"bad.jsonl:1: .*suffix"):
        load_benchmark(str(path))


def test_post_processing_keeps_every_canonical_middle_of_every_set(sets):
    for bench in sets.values():
        changed = [
            p.task_id
            for p in bench.problems
            if infill.middle_of(p.canonical_solution, p.infill_unit, p.suffix, STARCODER)
            != p.canonical_solution
        ]
        assert changed == []


def test_post_processing_cuts_sentinels_lines_and_suffix_echoes():
    suffix = "        return total_of_everything\n    return None\n"
    assert infill.middle_of("    x = 1\n    y = 2\n", "line", suffix, STARCODER) == "    x = 1\n"
    assert infill.middle_of("    x = 1", "line", suffix, STARCODER) == "    x = 1\n"
    assert infill.middle_of("    x = 1<|endoftext|>junk", "span", suffix, STARCODER) == "    x = 1"
    assert infill.middle_of("a<fim_prefix>b", "span", suffix, STARCODER) == "a"
    assert infill.middle_of("    x = 1", "lines", suffix, STARCODER) == "    x = 1\n"
    echoed = "    x = 1\n" + suffix + "more"
    assert infill.middle_of(echoed, "lines", suffix, STARCODER) == "    x = 1\n"
    # an echo of a short suffix is not looked for; inside a line it does not count for lines
    assert infill.middle_of("    return 1\n", "lines", "    return 1\n", STARCODER) == "    return 1\n"
    inline = "y = '" + suffix.strip() + "'\n"
    assert infill.middle_of(inline, "lines", suffix, STARCODER) == inline


def test_fim_prompts_use_the_models_sentinels_in_both_layouts(tiny_base_dir, sets):
    model = LocalModel(str(tiny_base_dir), backend="transformers")
    p = sets["light"].problems[3]
    for layout, expected in (
        ("psm", f"<fim_prefix>{p.prompt}<fim_suffix>{p.suffix}<fim_middle>"),
        ("spm", f"<fim_prefix><fim_suffix>{p.suffix}<fim_middle>{p.prompt}"),
    ):
        prepared = prepare_fim(p, STARCODER, layout)
        assert prepared.text == expected and prepared.stops == ()
        ids = model._encode(prepared)
        vocab = model.tokenizer.get_vocab()
        for tok in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"):
            assert ids.count(vocab[tok]) == 1  # one token each, never split into pieces
    model.extra_stop_tokens = infill.stop_tokens(STARCODER)
    eos = model.eos_token_ids()
    assert {vocab["<|endoftext|>"], vocab["<fim_prefix>"], vocab["<file_sep>"]} <= set(eos)
    single = prepare_fim(sets["single"].problems[0], STARCODER, "psm")
    assert single.stops == ("\n",)
    assert postprocess(single, "    for i in x:\n        pass\n") == "    for i in x:\n"


def test_reference_middles_of_the_light_set_all_pass_through_the_cli(tmp_path, capsys):
    light = str(DATA / SETS["light"][0])
    out = tmp_path / "ref"
    assert main(["eval", "--backend", "reference", "--benchmark", light, "--out", str(out)]) == 0
    assert (
        "reference on HumanEval-RandomSpanInfillingLight: pass@1 = 100.0% (164 problems"
        in capsys.readouterr().out
    )
    res = load_results(out / "results.json")
    assert res["verdicts"] == {"passed": 164}
    assert res["generation"]["prompt_style"] == "fim" and res["generation"]["fim_layout"] == "psm"


def test_canonical_middles_of_single_and_multi_line_samples_pass(sets, sandbox):
    # every 9th single-line and every 40th multi-line task (the full sets: see README)
    for key, step in (("single", 9), ("multi", 40)):
        bench = sets[key]
        samples = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in bench.problems[::step]]
        results = execute_samples(bench, samples, sandbox, show_progress=False)
        assert [r.task_id for r in results if not r.verdict.passed] == []
        assert len(results) == len(bench.problems[::step])


def test_empty_middles_score_zero(tmp_path):
    light = str(DATA / SETS["light"][0])
    req = EvalRequest(
        benchmark=light, generator=Canned(""), out=str(tmp_path / "empty"), timeout=2.0, show_progress=False
    )
    res = load_results(run_eval(req))
    assert res["scores"] == {"pass@1": 0.0}
    assert res["n_samples"] == 164 and "passed" not in res["verdicts"]


HOSTILE = {
    # prints what a pass looks like, on stdout and on the program's status channel
    "fake_pass": (
        "    import os, sys\n"
        '    print(\'{"event": "proof", "secret": "0"}\')\n'
        '    os.write(3, b\'{"event": "result", "kind": "passed"}\\n\')\n'
        "    return True\n"
    ),
    # exits with status 0 when the tests call the function
    "exit_early": "    import os\n    os._exit(0)\n    for idx, elem in enumerate(numbers):\n",
    # exits with status 0 as soon as the module runs, before any test
    "sys_exit_at_import": (
        "    return True\nimport sys\nsys.exit(0)\n"
        "def _rest(numbers, threshold):\n    for idx, elem in enumerate(numbers):\n"
    ),
    # closes the function, defines a check that accepts anything, and parks the suffix
    "redefine_check": (
        "    return True\n\n\ndef check(candidate):\n    return None\n\n\n"
        "def _rest(numbers, threshold):\n    for idx, elem in enumerate(numbers):\n"
    ),
}


def test_hostile_middles_never_pass(tmp_path, sets):
    bench = sets["single"]
    task = bench.problems[0].task_id  # has_close_elements: its tests expect False too
    rows = [{"task_id": task, "completion": text, "attack": name} for name, text in HOSTILE.items()]
    rows.append({"task_id": task, "completion": bench.problems[0].canonical_solution, "attack": "none"})
    samples = tmp_path / "hostile.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "hostile"
    run_eval(
        EvalRequest(
            benchmark=str(DATA / SETS["single"][0]),
            samples=str(samples),
            out=str(out),
            timeout=3.0,
            show_progress=False,
        )
    )
    verdicts = {
        r["attack"]: r["result"] for r in map(json.loads, (out / "samples.jsonl").read_text().splitlines())
    }
    assert verdicts["none"] == "passed"
    assert {k: v for k, v in verdicts.items() if k != "none" and v == "passed"} == {}
    assert verdicts["exit_early"] == verdicts["sys_exit_at_import"] == "exit"
    assert verdicts["redefine_check"] == "assertion"


def test_the_reference_backend_is_for_infilling_only(tmp_path):
    with pytest.raises(MixtuneError, match="--backend reference answers infilling"):
        run_eval(EvalRequest(benchmark="humaneval", backend="reference", limit=1, out=str(tmp_path / "x")))


def test_fim_layout_is_checked():
    with pytest.raises(MixtuneError, match="--fim-layout"):
        GenerationSettings(fim_layout="pms")


def test_hub_names_offline_say_which_file_to_pass_instead():
    with pytest.raises(
        MixtuneError, match=r"HumanEval-SingleLineInfilling.*--benchmark path/to/HumanEval-Single"
    ):
        load_benchmark("humaneval-infilling-single")
    with pytest.raises(MixtuneError, match="sets are single, multi, random-span, random-span-light"):
        load_benchmark("humaneval-infilling-middle")


def test_an_openai_endpoint_gets_the_fim_prompt_on_completions(sets, tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    problems = sets["light"].problems[:5]
    middles = {prepare_fim(p, STARCODER, "spm").text: p.canonical_solution for p in problems}
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body.get("prompt", "")))
            # a server that returns the end-of-text token as text, and more after it
            text = middles.get(body.get("prompt", ""), "") + "<|endoftext|>def junk(): pass"
            payload = json.dumps({"choices": [{"index": 0, "text": text}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        req = EvalRequest(
            benchmark=str(DATA / SETS["light"][0]),
            limit=5,
            openai_base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1",
            openai_model="starcoder2",
            settings=GenerationSettings(fim_layout="spm"),
            out=str(tmp_path / "endpoint"),
            show_progress=False,
        )
        res = load_results(run_eval(req))
    finally:
        httpd.shutdown()
    assert {path for path, _ in seen} == {"/v1/completions"}
    assert {prompt for _, prompt in seen} == set(middles)
    assert res["scores"] == {"pass@1": 1.0} and res["generation"]["fim_layout"] == "spm"


def test_chat_prompt_styles_are_refused_for_infilling(tmp_path):
    with pytest.raises(MixtuneError, match="infilling benchmarks are asked in FIM layout"):
        run_eval(
            EvalRequest(
                benchmark=str(DATA / SETS["light"][0]),
                generator=Canned(""),
                settings=GenerationSettings(prompt_style="chat"),
                out=str(tmp_path / "x"),
            )
        )


def test_a_model_without_fim_tokens_is_refused(tmp_path):
    class NoFim(Canned):
        class tokenizer:  # noqa: N801 - stands in for a tokenizer object
            name_or_path = "plain-gpt"

            @staticmethod
            def get_vocab():
                return {"<|endoftext|>": 0}

    with pytest.raises(MixtuneError, match="plain-gpt has no fill-in-the-middle tokens"):
        run_eval(
            EvalRequest(benchmark=str(DATA / SETS["light"][0]), generator=NoFim(""), out=str(tmp_path / "x"))
        )
