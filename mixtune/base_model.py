"""The embedded default base code model, built offline.

Real users start from a Hub model (`bigcode/starcoder2-15b`). Without a hub, mixtune builds
its own small StarCoder2-architecture model: a byte-level BPE tokenizer trained on local
Python code (the running interpreter's standard library unless a directory is named),
with the special tokens a code chat model needs, then a short causal-LM pre-training pass
on the same code. The result is a normal Hugging Face model directory, cached by a hash of
everything that determines it, so a second call is free.
"""

from __future__ import annotations

import json
import logging
import math
import random
import sysconfig
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mixtune.errors import MixtuneError
from mixtune.hashing import hash_obj
from mixtune.paths import cache_dir

log = logging.getLogger(__name__)

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<fim_prefix>",
    "<fim_middle>",
    "<fim_suffix>",
    "<fim_pad>",
    "<file_sep>",
    "<repo_name>",
]
RECORD_NAME = "mixtune_base_model.json"
SKIP_DIRS = {
    "test",
    "tests",
    "idlelib",
    "lib2to3",
    "site-packages",
    "dist-packages",
    "__pycache__",
    "turtledemo",
}


@dataclass(frozen=True)
class BaseModelSpec:
    """Everything that determines a base model; its hash names the cache entry."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    max_position_embeddings: int
    tokenizer_chars: int  # characters of code the tokenizer is trained on
    pretrain_chars: int  # characters of code the model is pre-trained on
    pretrain_steps: int
    seq_len: int
    batch_size: int
    learning_rate: float


SIZES: dict[str, BaseModelSpec] = {
    # random-init, for tests: builds in seconds
    "test": BaseModelSpec(1024, 64, 2, 4, 2, 256, 1024, 1_500_000, 300_000, 0, 128, 8, 3e-3),
    # the default (1.3M parameters): pre-trained in a few minutes on 2 cores
    "tiny": BaseModelSpec(4096, 128, 4, 4, 2, 512, 2048, 4_000_000, 3_000_000, 400, 256, 8, 3e-3),
    # 5M parameters: about four times the pre-training time of "tiny"
    "small": BaseModelSpec(8192, 256, 4, 8, 4, 1024, 2048, 6_000_000, 4_000_000, 400, 256, 8, 2e-3),
}
DEFAULT_SIZE = "tiny"


def default_code_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def collect_code_files(root: Path, max_chars: int) -> list[Path]:
    """Python files under root, in a stable order, up to about max_chars characters."""
    if not root.is_dir():
        raise MixtuneError(f"code directory not found: {root}")
    files: list[Path] = []
    total = 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel[:-1]):
            continue
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size == 0 or size > 400_000:
            continue
        files.append(path)
        total += size
        if total >= max_chars:
            break
    if not files:
        raise MixtuneError(f"no Python files found under {root}")
    return files


def read_code(files: list[Path]) -> list[str]:
    texts = []
    for path in files:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return texts


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """Byte-level BPE (StarCoder style: single digits, no prefix space) that round-trips code exactly."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        clean_up_tokenization_spaces=False,
        model_max_length=None,
    )


def make_model(spec: BaseModelSpec, tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import Starcoder2Config, Starcoder2ForCausalLM

    config = Starcoder2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        sliding_window=None,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=0.02,
        residual_dropout=0.0,
        embedding_dropout=0.0,
        attention_dropout=0.0,
    )
    torch.manual_seed(seed)
    return Starcoder2ForCausalLM(config)


def pretrain(model: Any, tokenizer: Any, texts: list[str], spec: BaseModelSpec, seed: int) -> list[float]:
    """A short causal-LM pass over the code: cosine schedule, progress bar, deterministic under seed."""
    import torch
    from tqdm.auto import tqdm

    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    n_blocks = len(ids) // spec.seq_len
    if n_blocks < spec.batch_size:
        raise MixtuneError(f"too little code to pre-train on: {len(ids)} tokens")
    blocks = torch.tensor(ids[: n_blocks * spec.seq_len]).view(n_blocks, spec.seq_len)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, spec.pretrain_steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, spec.pretrain_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_at)  # multiplies the base lr
    model.train()
    losses: list[float] = []
    order = torch.randperm(n_blocks, generator=gen)
    cursor = 0
    bar = tqdm(range(spec.pretrain_steps), desc="pre-training base model", unit="step")
    for _ in bar:
        if cursor + spec.batch_size > n_blocks:
            order, cursor = torch.randperm(n_blocks, generator=gen), 0
        batch = blocks[order[cursor : cursor + spec.batch_size]]
        cursor += spec.batch_size
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def _fingerprint(files: list[Path], root: Path) -> str:
    return hash_obj([[str(p.relative_to(root)), p.stat().st_size] for p in files])


def build_base_model(
    out: str | Path | None = None,
    size: str = DEFAULT_SIZE,
    code_dir: str | Path | None = None,
    seed: int = 0,
    steps: int | None = None,
    force: bool = False,
) -> Path:
    """Build (or reuse from cache) the embedded base model; return its directory."""
    if size not in SIZES:
        raise MixtuneError(f"unknown base-model size '{size}'; choose one of {sorted(SIZES)}")
    spec = SIZES[size] if steps is None else replace(SIZES[size], pretrain_steps=steps)
    root = Path(code_dir) if code_dir else default_code_dir()
    tok_files = collect_code_files(root, spec.tokenizer_chars)
    import tokenizers
    import torch
    import transformers

    key_material = {
        "spec": asdict(spec),
        "seed": seed,
        "code": _fingerprint(tok_files, root),
        "versions": [transformers.__version__, tokenizers.__version__, torch.__version__.split("+")[0]],
    }
    key = hash_obj(key_material)
    out = Path(out) if out else cache_dir("base-models") / f"{size}-{key}"
    record_path = out / RECORD_NAME
    if not force and record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("key") == key:
            log.info("base model cached at %s (key %s): nothing to do", out, key)
            return out
        log.info("base model at %s was built with other settings: rebuilding", out)

    t0 = time.time()
    random.seed(seed)
    log.info("training a %d-token BPE on %d files from %s", spec.vocab_size, len(tok_files), root)
    tokenizer = train_tokenizer(read_code(tok_files), spec.vocab_size)
    model = make_model(spec, tokenizer, seed)
    losses: list[float] = []
    if spec.pretrain_steps > 0:
        pre_files = collect_code_files(root, spec.pretrain_chars)
        losses = pretrain(model, tokenizer, read_code(pre_files), spec, seed)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    record = {
        "key": key,
        "size": size,
        "seed": seed,
        "code_dir": str(root),
        "spec": asdict(spec),
        "parameters": n_params,
        "pretrain_loss_first": losses[0] if losses else None,
        "pretrain_loss_last": losses[-1] if losses else None,
        "seconds": round(time.time() - t0, 1),
    }
    (out / "README.md").write_text(_model_card(record), encoding="utf-8")
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    log.info("base model (%s parameters) written to %s in %.0fs", f"{n_params:,}", out, record["seconds"])
    return out


def _model_card(record: dict[str, Any]) -> str:
    return (
        "---\nlibrary_name: transformers\ntags: [mixtune, starcoder2, base-model]\n---\n"
        f"# mixtune embedded base model ({record['size']})\n\n"
        "A small StarCoder2-architecture causal LM built offline by `mixtune base-model`: a byte-level BPE "
        f"trained on Python code from `{record['code_dir']}`, then {record['spec']['pretrain_steps']} steps of "
        "causal-LM pre-training on that code. It exists so the whole mixtune pipeline runs with no model hub; "
        "it is not a useful code model.\n\n"
        f"- parameters: {record['parameters']:,}\n- seed: {record['seed']}\n"
        f"- pre-training loss: {record['pretrain_loss_first']} -> {record['pretrain_loss_last']}\n"
    )
