"""What the hardware can do, checked before training starts, so that a recipe written for 8 GPUs
fails with a clear message (or degrades to a safe setting, recorded) instead of deep in a kernel."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import asdict, dataclass
from typing import Any

from mixtune.errors import MixtuneError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    """The accelerator facts that training decisions depend on."""

    cuda: bool
    gpu_count: int
    gpu_name: str | None
    bf16: bool  # hardware bf16: an Ampere-or-newer GPU, or a CPU with AVX512-BF16 / AMX
    flash_attn: bool  # the flash-attn package is importable (varlen kernels for padding-free batches)
    bitsandbytes: bool
    deepspeed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 autocast is emulated and slow."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def detect_capabilities() -> Capabilities:
    """Probe torch and the optional packages; cheap, no GPU work."""
    import torch

    enable_cpu_fsdp()  # before any accelerate state exists (a no-op outside `--launch fsdp --cpu`)
    cuda = torch.cuda.is_available()
    return Capabilities(
        cuda=cuda,
        gpu_count=torch.cuda.device_count() if cuda else 0,
        gpu_name=torch.cuda.get_device_name(0) if cuda else None,
        bf16=bool(torch.cuda.is_bf16_supported()) if cuda else cpu_has_bf16(),
        flash_attn=cuda and importlib.util.find_spec("flash_attn") is not None,
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        deepspeed=importlib.util.find_spec("deepspeed") is not None,
    )


def resolve_precision(
    bf16: bool | None, fp16: bool | None, caps: Capabilities, notes: list[str] | None = None
) -> dict[str, bool]:
    """Decide bf16/fp16 mixed precision: bf16 when the hardware has it, unless the recipe says otherwise.

    None means "auto". A recipe asking for bf16 on hardware without it (a CPU, a pre-Ampere GPU) trains in
    fp32 rather than failing, and says so in `notes`; fp16 without CUDA is an error, because nothing
    else can honour it.
    """
    notes = notes if notes is not None else []
    if fp16 and bf16:
        raise MixtuneError("bf16 and fp16 are both set; choose one")
    if fp16:
        if not caps.cuda:
            raise MixtuneError("fp16 mixed precision needs a CUDA GPU; remove fp16 or set bf16")
        return {"bf16": False, "fp16": True}
    if bf16 is None:
        return {"bf16": caps.bf16, "fp16": False}
    if bf16 and not caps.bf16:
        where = "this CPU (no AVX512-BF16/AMX)" if not caps.cuda else f"this GPU ({caps.gpu_name})"
        notes.append(f"bf16 requested but {where} has no bf16 support: training in fp32")
        log.warning(notes[-1])
        return {"bf16": False, "fp16": False}
    return {"bf16": bool(bf16), "fp16": False}


def check_quantization(load_in_4bit: bool, load_in_8bit: bool, caps: Capabilities) -> None:
    """QLoRA (bitsandbytes 4/8-bit) needs CUDA and the bitsandbytes package."""
    if not (load_in_4bit or load_in_8bit):
        return
    which = "load_in_4bit" if load_in_4bit else "load_in_8bit"
    if not caps.cuda:
        raise MixtuneError(
            f"{which} (QLoRA) needs a CUDA GPU and bitsandbytes; this machine has no CUDA GPU. "
            "Use plain LoRA (use_peft: true) on CPU."
        )
    if not caps.bitsandbytes:
        raise MixtuneError(f"{which} (QLoRA) needs bitsandbytes: pip install 'mixtune[qlora]'")


def check_attention(attn_implementation: str | None, caps: Capabilities) -> None:
    """flash_attention_2/3 need CUDA and the flash-attn package; say so before loading the model."""
    if attn_implementation and attn_implementation.startswith("flash_attention") and not caps.flash_attn:
        raise MixtuneError(
            f"attn_implementation '{attn_implementation}' needs a CUDA GPU and the flash-attn package; "
            "remove it to use PyTorch SDPA"
        )


def check_deepspeed(caps: Capabilities) -> None:
    if not caps.deepspeed:
        raise MixtuneError(
            "this launch config uses DeepSpeed, which is not installed: pip install 'mixtune[deepspeed]'"
        )


CPU_FSDP_ENV = "MIXTUNE_CPU_FSDP"


def enable_cpu_fsdp() -> None:
    """Let accelerate's FSDP run in CPU processes (`--launch fsdp --cpu`).

    accelerate 1.15 switches its state to FSDP only on accelerator devices: in CPU gloo processes the
    state stays MULTI_CPU and the FSDP plugin built from the launch config is silently dropped, so the
    run would be plain DDP. PyTorch's FSDP2 (`fully_shard`) itself runs on CPU with gloo, so here,
    after accelerate has set its state up, a MULTI_CPU state that was given an FSDP plugin becomes
    FSDP; everything else (wrapping, sharded checkpoints, the consolidated save) is accelerate's and
    transformers' own code. Idempotent; only active when the launcher set MIXTUNE_CPU_FSDP=1.
    """
    import os

    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedType

    if os.environ.get(CPU_FSDP_ENV) != "1" or getattr(AcceleratorState, "_mixtune_cpu_fsdp", False):
        return
    original = AcceleratorState.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        plugin = kwargs.get("fsdp_plugin")
        if plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = plugin

    AcceleratorState.__init__ = init
    AcceleratorState._mixtune_cpu_fsdp = True
