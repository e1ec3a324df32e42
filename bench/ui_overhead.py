"""What the playground costs: tokens/s and time-to-first-token through the launched Gradio app
(gradio_client, streaming; and plain HTTP + server-sent events, as the page itself does) versus
raw `model.generate` with a TextIteratorStreamer, on the same model, prompt and greedy settings,
measured in the same run.

Goal: at most 5% throughput loss and at most 50 ms of added time-to-first-token.

The same run also measures the chat's "found in training data" check: the playground streams a
reply, then (as the page chains it) the check looks its code blocks up in the model's training
mixture. Streaming with the check on is compared run by run with the check off, against the same
5% goal, and the time from the reply's end to the marks is reported.

    python bench/ui_overhead.py [--tokens 200] [--repeats 15] [--mixture-rows 2000]

The model is a StarCoder2-architecture network with random weights (about 18M parameters, so a
token costs what a small real model costs on a CPU), using mixtune's offline code tokenizer,
steered to a fixed answer (prose and two code blocks, one of them a row of its training mixture)
so that text streams token by token and the check has blocks to look up.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SYSTEM = "You are a helpful coding assistant."
PROMPT = "Write a Python function that merges two sorted lists."


def build_model(workdir: Path, hidden: int, layers: int) -> Path:
    """A random-init chat model of a realistic per-token cost, saved as a normal model dir."""
    import torch
    from transformers import AutoTokenizer, Starcoder2Config, Starcoder2ForCausalLM

    from mixtune.base_model import build_base_model
    from mixtune.chat_format import setup_chat_format

    base = build_base_model(workdir / "base", size="test", seed=0)
    tok = AutoTokenizer.from_pretrained(base)
    config = Starcoder2Config(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        sliding_window=None,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Starcoder2ForCausalLM(config)
    setup_chat_format(model, tok)
    out = workdir / "chat"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def fixed_length(backend: Any, tokens: int) -> None:
    """Random weights may end a reply at any moment; make every run produce exactly `tokens`."""
    original = backend.generation_kwargs

    def generation_kwargs(settings: Any, *args: Any) -> dict[str, Any]:
        kwargs = original(settings, *args)
        kwargs["generation_config"].min_new_tokens = min(tokens, settings.max_new_tokens)
        return kwargs

    backend.generation_kwargs = generation_kwargs


def forced_answer(backend: Any, text: str) -> None:
    """Steer the random model to `text`'s tokens, one per step (cycling when a reply is longer), so
    that every path streams the same answer. The same hook serves all paths, so it costs them alike."""
    import torch

    target = backend.tokenizer(text, add_special_tokens=False)["input_ids"]
    vocab = backend.model.config.vocab_size
    biases = torch.full((len(target), vocab), -1e4)
    biases[torch.arange(len(target)), torch.tensor(target)] = 0.0
    step = [0]

    def restart(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[1] > 1:  # the whole prompt: a new reply starts
            step[0] = 0

    def hook(module: Any, inputs: Any, output: Any) -> Any:
        bias = biases[step[0] % len(target)]
        step[0] += 1
        return output + bias

    backend.model.register_forward_pre_hook(restart, with_kwargs=True)
    backend.model.lm_head.register_forward_hook(hook)


COPIED = "def running_total(values):\n    total = 0\n    for value in values:\n        total += value\n    return total\n"
FRESH = "def largest(items):\n    best = items[0]\n    for item in items:\n        best = max(best, item)\n    return best\n"


def training_mixture(workdir: Path, model_dir: Path, rows: int) -> str:
    """A code mixture (`rows` synthetic rows and one with COPIED) with its search index, recorded
    as `model_dir`'s training data (as `mixtune sft` records it); returns the answer the model is
    steered to: prose, a code block copied from the mixture, and one that is in no row."""
    import json

    import yaml

    from mixtune.run_record import RUN_RECORD
    from mixtures import build_mixture
    from mixtures.search_index import build_index
    from mixtures.synthetic import code_rows

    planted = {"messages": [{"role": "user", "content": "Sum a list."}]}
    planted["messages"].append({"role": "assistant", "content": f"```python\n{COPIED}```"})
    data = [planted, *code_rows(rows, seed=1)]
    (workdir / "code.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    recipe = {"name": "bench-code", "kind": "sft", "sources": [{"name": "code", "path": "code.jsonl"}]}
    recipe |= {"test": {"holdout": 0}, "output": "mixture"}
    (workdir / "mixture.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    mixture = build_mixture(workdir / "mixture.yaml")
    build_index(mixture)
    digest = json.loads((mixture / "manifest.json").read_text())["hash"]
    entry = {"stage": "sft", "name": "bench-code", "hash": digest, "path": str(mixture)}
    (model_dir / RUN_RECORD).write_text(json.dumps({"stage": "sft", "mixtures": [entry]}), encoding="utf-8")
    return (
        f"Here is a helper first:\n\n```python\n{COPIED}```\n\nand then the function that uses it:\n\n"
        f"```python\n{FRESH}```\n\nBoth run in linear time. "
    )


def raw_generate(backend: Any, tokens: int) -> dict[str, float]:
    """The baseline: `generate` with a TextIteratorStreamer and the same generation config, no UI."""
    import torch
    from transformers import TextIteratorStreamer

    from chat_ui.backend import GenerationSettings

    tok, model = backend.tokenizer, backend.model
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    settings = GenerationSettings(temperature=0.0, max_new_tokens=tokens, seed=0)
    kwargs = {**ids, "streamer": streamer, **backend.generation_kwargs(settings)}

    def run() -> None:
        with torch.inference_mode():
            model.generate(**kwargs)

    t0, cpu0 = time.perf_counter(), time.process_time()
    thread = threading.Thread(target=run)
    thread.start()
    first = None
    for text in streamer:
        if text and first is None:
            first = time.perf_counter()
    thread.join()
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"ttft": (first or time.perf_counter()) - t0, "seconds": total, "cpu": cpu, "tokens": tokens}


# ---- clients: they run in a separate process, like a browser, so their CPU is not the server's ----

_CLIENTS: dict[str, Any] = {}


def close_clients() -> None:
    """Close this process's clients (a gradio_client Client keeps a heartbeat stream open), so
    nothing of one playground run is left running during the next measurement."""
    for client in _CLIENTS.values():
        close = getattr(client, "close", None)
        if close is not None:
            close()
    _CLIENTS.clear()


def _status_tokens(values: list[Any]) -> int:
    status = next((v for v in values if isinstance(v, str) and "reply **" in v), "")
    return int(status.split("reply **")[1].split("**")[0]) if status else 0


def request_via_gradio_client(url: str, model: str, tokens: int) -> dict[str, float]:
    """`/send` with gradio_client, streamed; one client (one session) per URL, cleared before each send."""
    from gradio_client import Client

    from chat_ui.backend import GenerationSettings
    from chat_ui.client import message_text, slider_values

    client = _CLIENTS.get(url) or _CLIENTS.setdefault(url, Client(url, verbose=False))
    client.predict(api_name="/clear")
    settings = GenerationSettings(temperature=0.0, max_new_tokens=tokens, seed=0)
    t0, cpu0 = time.perf_counter(), time.process_time()
    job = client.submit(PROMPT, model, SYSTEM, *slider_values(settings), api_name="/send")
    first, last = None, None
    for output in job:
        chatbot = output[0]
        if first is None and chatbot and chatbot[-1]["role"] == "assistant" and message_text(chatbot[-1]):
            first = time.perf_counter()
        last = output
    return {
        "ttft": (first or t0) - t0,
        "seconds": time.perf_counter() - t0,
        "tokens": _status_tokens(list(last)),
        "client_cpu": time.process_time() - cpu0,
    }


def _fn_index(http: Any, url: str, api_name: str) -> int:
    key = f"fn:{url}:{api_name}"
    if key not in _CLIENTS:
        deps = http.get(f"{url}config").json()["dependencies"]
        _CLIENTS[key] = next(i for i, d in enumerate(deps) if d.get("api_name") == api_name)
    return _CLIENTS[key]


def _queue_event(http: Any, url: str, fn_index: int, data: list[Any], session: str) -> tuple[Any, list[Any]]:
    """Join the queue with one event and read its server-sent events (full values first, then
    diffs) to the end: (when the chat first showed the assistant's text, the final values)."""
    import json

    from gradio_client.utils import apply_diff

    from chat_ui.client import message_text

    body = {
        "data": data,
        "fn_index": fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    http.post(f"{url}gradio_api/queue/join", json=body).raise_for_status()
    first, values, final = None, None, []
    with http.stream("GET", f"{url}gradio_api/queue/data?session_hash={session}") as events:
        for line in events.iter_lines():
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("msg") == "process_generating":
                out = msg["output"]["data"]
                values = (
                    out if values is None else [apply_diff(v, d) for v, d in zip(values, out, strict=True)]
                )
                chatbot = values[0]
                if (
                    first is None
                    and chatbot
                    and chatbot[-1]["role"] == "assistant"
                    and message_text(chatbot[-1])
                ):
                    first = time.perf_counter()
            elif msg.get("msg") == "process_completed":
                final = msg["output"]["data"] if msg.get("success") else [str(msg)]
                break
    return first, final


def request_via_http(url: str, model: str, tokens: int, check: bool = False) -> dict[str, float]:
    """`/send` the way the page's JavaScript does it: join the queue over HTTP, then read the
    server-sent events. A new session each time. `check`: then the training-data check, as the
    page chains it after the reply, timed from the reply's end to the marks."""
    import uuid

    import httpx

    from chat_ui.backend import GenerationSettings
    from chat_ui.client import message_text, slider_values
    from chat_ui.conversation import code_blocks

    http = _CLIENTS.get(f"http:{url}") or _CLIENTS.setdefault(f"http:{url}", httpx.Client(timeout=120))
    session = uuid.uuid4().hex[:12]
    settings = GenerationSettings(temperature=0.0, max_new_tokens=tokens, seed=0)
    data = [PROMPT, None, model, SYSTEM, *slider_values(settings)]
    t0, cpu0 = time.perf_counter(), time.process_time()
    first, final = _queue_event(http, url, _fn_index(http, url, "send"), data, session)
    run = {
        "ttft": (first or t0) - t0,
        "seconds": time.perf_counter() - t0,
        "tokens": _status_tokens(final),
    }
    if check:
        ended = time.perf_counter()
        _, marked = _queue_event(
            http, url, _fn_index(http, url, "check_training_data"), [None, True], session
        )
        run["check_seconds"] = time.perf_counter() - ended
        chatbot = marked[0] if marked and isinstance(marked[0], list) else []
        if not chatbot:
            raise RuntimeError(f"the training-data check did not answer with the chat: {marked}")
        shown = message_text(chatbot[-1])
        run["marked_blocks"] = shown.count("found in training data")
        run["checked_blocks"] = len(code_blocks(shown))
    run["client_cpu"] = time.process_time() - cpu0
    return run


def request_via_http_checked(url: str, model: str, tokens: int) -> dict[str, float]:
    """`request_via_http` with the training-data check after the reply (as the page does)."""
    return request_via_http(url, model, tokens, check=True)


def median_with_interval(values: list[float], draws: int = 2000) -> tuple[float, float, float]:
    """The median and a bootstrap 90% interval for it: on a shared machine single runs of the same
    work differ by 10-20%, so the interval says how far the median itself can be trusted."""
    import random

    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return statistics.median(values), medians[int(0.05 * draws)], medians[int(0.95 * draws) - 1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps the comparison fair)")
    parser.add_argument(
        "--mixture-rows", type=int, default=2000, help="rows of the training mixture the check searches"
    )
    parser.add_argument(
        "--stream-interval",
        type=float,
        default=None,
        help="the playground's update interval (default: its own)",
    )
    parser.add_argument(
        "--queue-poll",
        type=float,
        default=None,
        help="seconds between Gradio queue polls (default: the playground's; Gradio's own is 0.001)",
    )
    return parser.parse_args()


PATHS = {  # name -> the client function (run in the client process)
    "playground, gradio_client": "request_via_gradio_client",
    "playground, HTTP + SSE": "request_via_http",
    "HTTP + SSE, check on": "request_via_http_checked",
}


def measure(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, list[dict[str, float]]], int]:
    """Every path's runs ("raw generate + streamer" and PATHS), interleaved so that drift in
    machine load hits all alike; and the model's parameter count."""
    from chat_ui.app import STREAM_INTERVAL_S, Playground
    from chat_ui.launch import QUEUE_POLL_S, launch
    from chat_ui.transformers_backend import TransformersBackend

    model_dir = build_model(workdir, args.hidden, args.layers)
    answer = training_mixture(workdir, model_dir, args.mixture_rows)
    backend = TransformersBackend(model_dir, name="bench")
    fixed_length(backend, args.tokens)
    forced_answer(backend, answer)
    queue_poll = QUEUE_POLL_S if args.queue_poll is None else args.queue_poll
    interval = STREAM_INTERVAL_S if args.stream_interval is None else args.stream_interval
    clients = multiprocessing.get_context("spawn").Pool(1)

    def measured(fn: Any, url: str) -> dict[str, float]:
        clients.apply(fn, (url, "bench", 2))  # warm: the session and its connection exist, as on a page
        cpu0 = time.process_time()
        run = clients.apply(fn, (url, "bench", args.tokens))
        run["cpu"] = time.process_time() - cpu0  # this process: model and server, not the client
        return run

    def playground_run() -> dict[str, dict[str, float]]:
        # launched for each run and closed after it, so that the raw baseline runs alone (an idle
        # server still polls its queue: every 10 ms in the playground, every 1 ms in plain Gradio)
        demo = Playground({"bench": backend}, None, stream_interval=interval).blocks()
        _, url, _ = launch(
            demo, host="127.0.0.1", port=None, block=False, quiet=True, queue_poll_s=queue_poll
        )
        try:
            return {name: measured(globals()[fn], url) for name, fn in PATHS.items()}
        finally:
            clients.apply(close_clients)
            demo.close()

    runs: dict[str, list[dict[str, float]]] = {"raw generate + streamer": [], **{name: [] for name in PATHS}}
    try:
        raw_generate(backend, args.tokens)  # warm up every path
        playground_run()
        for _ in range(args.repeats):
            runs["raw generate + streamer"].append(raw_generate(backend, args.tokens))
            for name, run in playground_run().items():
                runs[name].append(run)
    finally:
        clients.terminate()
    return runs, sum(p.numel() for p in backend.model.parameters())


def tps(run: dict[str, float]) -> float:
    return run["tokens"] / run["seconds"]


def decode_tps(run: dict[str, float]) -> float:
    """Tokens/s once the first one is shown: the streaming cost without the start-up cost."""
    return (run["tokens"] - 1) / max(run["seconds"] - run["ttft"], 1e-9)


def cpu_ms(run: dict[str, float]) -> float:
    return 1000 * run["cpu"] / run["tokens"]


def client_cpu(runs: list[dict[str, float]]) -> str:
    if "client_cpu" not in runs[0]:
        return "-"
    return f"{statistics.median(1000 * r['client_cpu'] / r['tokens'] for r in runs):.2f}"


def compare(name: str, runs: list[dict[str, float]], base: list[dict[str, float]], against: str) -> None:
    """One path against another, run by run: throughput, decode, TTFT and CPU ratios vs the goals."""
    med = statistics.median
    pairs = list(zip(runs, base, strict=True))
    ratio, low, high = median_with_interval([tps(a) / tps(b) for a, b in pairs])
    decode = med(decode_tps(a) / decode_tps(b) for a, b in pairs)
    ttft = med(a["ttft"] - b["ttft"] for a, b in pairs)
    cpu = med(cpu_ms(a) / cpu_ms(b) for a, b in pairs)
    print(
        f"{name} vs {against}: throughput ratio {ratio:.3f} [90% interval {low:.3f}-{high:.3f}] "
        f"(loss {(1 - ratio) * 100:.1f}%, goal <= 5%), decode ratio {decode:.3f}, "
        f"TTFT overhead {ttft * 1000:.0f} ms (goal <= 50 ms), CPU/token ratio {cpu:.2f}"
    )


def report(runs: dict[str, list[dict[str, float]]], n_params: int, args: argparse.Namespace) -> None:
    med = statistics.median
    print(
        f"model: {n_params / 1e6:.1f}M parameters, {args.tokens} greedy tokens, {args.repeats} runs each; "
        "medians, and ratios taken run by run against the run next to it"
    )
    print(
        f"{'path':<28}{'tokens/s':>10}{'decode/s':>10}{'TTFT ms':>10}{'CPU ms/token':>14}{'client CPU':>12}"
    )
    for name, path_runs in runs.items():
        print(
            f"{name:<28}{med(map(tps, path_runs)):>10.1f}{med(map(decode_tps, path_runs)):>10.1f}"
            f"{med(r['ttft'] for r in path_runs) * 1000:>10.1f}{med(map(cpu_ms, path_runs)):>14.2f}"
            f"{client_cpu(path_runs):>12}"
        )
    raw = runs["raw generate + streamer"]
    for name in PATHS:
        compare(name, runs[name], raw, "raw")
    compare("HTTP + SSE, check on", runs["HTTP + SSE, check on"], runs["playground, HTTP + SSE"], "check off")
    checked = runs["HTTP + SSE, check on"]
    print(
        f"training-data check ({args.mixture_rows + 1}-row mixture): marks shown "
        f"{med(r['check_seconds'] for r in checked) * 1000:.0f} ms after the reply ended (median; "
        f"max {max(r['check_seconds'] for r in checked) * 1000:.0f} ms); code blocks checked per answer "
        f"{sorted({int(r['checked_blocks']) for r in checked})}, marked {sorted({int(r['marked_blocks']) for r in checked})}"
    )
    print(
        "tokens/s counts from the request to the last token (time to first token included); decode/s from "
        "the first token shown to the last. CPU is this process's (model and server); client CPU (ms/token) "
        "is the client's own process. 'HTTP + SSE' is what the page's JavaScript does; gradio_client adds "
        "its own polling (a 1 ms loop while iterating a job, 50 ms waits for pending messages)."
    )
    counts = [r["tokens"] for name in PATHS for r in runs[name]]
    if any(c != args.tokens for c in counts):
        print("warning: the playground produced a different number of tokens:", counts)


def main() -> int:
    args = parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch starts its thread pool
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MIXTUNE_CACHE", str(Path(tmp) / "cache"))
        runs, n_params = measure(args, Path(tmp))
    report(runs, n_params, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
