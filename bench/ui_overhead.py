"""What the playground costs: tokens/s and time-to-first-token through the launched Gradio app
(gradio_client, streaming) versus raw `model.generate` with a TextIteratorStreamer, on the same
model, prompt and greedy settings, measured in the same run.

Goal: at most 5% throughput loss and at most 50 ms of added time-to-first-token.

    python bench/ui_overhead.py [--tokens 200] [--repeats 3]

The model is a StarCoder2-architecture network with random weights (about 18M parameters, so a
token costs what a small real model costs on a CPU), using mixtune's offline code tokenizer,
steered to word tokens so that text streams token by token.
"""

from __future__ import annotations

import argparse
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

    def generation_kwargs(settings: Any) -> dict[str, Any]:
        kwargs = original(settings)
        kwargs["generation_config"].min_new_tokens = tokens
        return kwargs

    backend.generation_kwargs = generation_kwargs


def words_only(backend: Any) -> None:
    """Steer the random model to word tokens (letters, optional leading space), so its text looks like
    prose and the streamer can flush at every token, as it does for real text. The same hook serves
    both paths, so it costs them alike."""
    import re

    import torch

    tok = backend.tokenizer
    allowed = torch.full((len(tok),), -1e4)
    for token_id in range(len(tok)):
        if re.fullmatch(r" ?[A-Za-z]+", tok.decode([token_id])):
            allowed[token_id] = 0.0
    backend.model.lm_head.register_forward_hook(lambda module, inputs, output: output + allowed)


def raw_generate(backend: Any, tokens: int) -> dict[str, float]:
    """The baseline: `generate` with a TextIteratorStreamer and the same generation config, no UI."""
    import torch
    from transformers import TextIteratorStreamer

    from chat_ui.backend import SamplingSettings

    tok, model = backend.tokenizer, backend.model
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    settings = SamplingSettings(temperature=0.0, max_new_tokens=tokens, seed=0)
    kwargs = {**ids, "streamer": streamer, **backend.generation_kwargs(settings)}

    def run() -> None:
        with torch.inference_mode():
            model.generate(**kwargs)

    t0 = time.perf_counter()
    thread = threading.Thread(target=run)
    thread.start()
    first = None
    for text in streamer:
        if text and first is None:
            first = time.perf_counter()
    thread.join()
    total = time.perf_counter() - t0
    return {"ttft": (first or time.perf_counter()) - t0, "seconds": total, "tokens": tokens}


def through_playground(url: str, model: str, tokens: int) -> dict[str, float]:
    """The same reply requested with gradio_client from the launched playground, streamed."""
    from gradio_client import Client

    from chat_ui.backend import SamplingSettings
    from chat_ui.client import message_text, slider_values

    client = Client(url, verbose=False)
    settings = SamplingSettings(temperature=0.0, max_new_tokens=tokens, seed=0)
    t0 = time.perf_counter()
    job = client.submit(PROMPT, model, SYSTEM, *slider_values(settings), api_name="/send")
    first = None
    last = None
    for output in job:
        chatbot = output[0]
        if first is None and chatbot and chatbot[-1]["role"] == "assistant" and message_text(chatbot[-1]):
            first = time.perf_counter()
        last = output
    total = time.perf_counter() - t0
    client.close()  # stop its heartbeat thread, so it does not compete with the next run
    status = last[2] if last else ""
    got = int(status.split("reply **")[1].split("**")[0]) if "reply **" in status else 0
    return {"ttft": (first or t0) - t0, "seconds": total, "tokens": got}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps the comparison fair)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch starts its thread pool
    import torch

    torch.set_num_threads(args.threads)
    from chat_ui.app import Playground, launch
    from chat_ui.transformers_backend import TransformersBackend

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MIXTUNE_CACHE", str(Path(tmp) / "cache"))
        model_dir = build_model(Path(tmp), args.hidden, args.layers)
        backend = TransformersBackend(model_dir, name="bench")
        fixed_length(backend, args.tokens)
        words_only(backend)
        n_params = sum(p.numel() for p in backend.model.parameters())
        demo = Playground({"bench": backend}, None, stream_interval=0.05).blocks()
        _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
        try:
            raw_generate(backend, args.tokens)  # warm up both paths
            through_playground(url, "bench", args.tokens)
            raw_runs, ui_runs = [], []
            for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
                raw_runs.append(raw_generate(backend, args.tokens))
                ui_runs.append(through_playground(url, "bench", args.tokens))
        finally:
            demo.close()

    def summary(runs: list[dict[str, float]]) -> tuple[float, float]:
        tps = statistics.median(r["tokens"] / r["seconds"] for r in runs)
        ttft = statistics.median(r["ttft"] for r in runs)
        return tps, ttft

    raw_tps, raw_ttft = summary(raw_runs)
    ui_tps, ui_ttft = summary(ui_runs)
    loss = 1 - ui_tps / raw_tps
    added = (ui_ttft - raw_ttft) * 1000
    print(f"model: {n_params / 1e6:.1f}M parameters, {args.tokens} greedy tokens, {args.repeats} runs each")
    print(f"{'path':<28}{'tokens/s':>10}{'TTFT ms':>10}")
    print(f"{'raw generate + streamer':<28}{raw_tps:>10.1f}{raw_ttft * 1000:>10.1f}")
    print(f"{'playground (gradio_client)':<28}{ui_tps:>10.1f}{ui_ttft * 1000:>10.1f}")
    print(f"throughput ratio playground/raw: {ui_tps / raw_tps:.3f} (loss {loss * 100:.1f}%, goal <= 5%)")
    print(f"TTFT overhead: {added:.1f} ms (goal <= 50 ms)")
    tokens_ok = all(r["tokens"] == args.tokens for r in ui_runs)
    if not tokens_ok:
        print(
            "warning: the playground produced a different number of tokens:", [r["tokens"] for r in ui_runs]
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
