"""Multi-process launch: turn `--launch zero3 --gpus 8 --nodes 2` into the `accelerate launch` command
that runs the same stage module (`python -m sft RECIPE`) in every process.

mixtune writes no distributed machinery of its own: accelerate (with DeepSpeed or FSDP from the
configs in `accelerate_configs/`, shipped inside the package) does the work; multi-node jobs go
through SLURM (`accelerate_configs/slurm_launch.sh`). `--cpu` runs the same launch config with N gloo
processes on this machine's CPU, which is how a CPU-only machine stands in for several GPUs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mixtune.errors import MixtuneError
from mixtune.paths import shipped

LAUNCH_CONFIGS = ("ddp", "zero2", "zero3", "fsdp")


def config_dir() -> Path:
    """The shipped accelerate configs (inside the installed package)."""
    return shipped("accelerate_configs")


def slurm_script() -> Path:
    return shipped("accelerate_configs/slurm_launch.sh")


def display_path(path: Path) -> str:
    """How a shipped file is named in a printed command: its short source-tree name when the working
    directory is a checkout that has it (the same file), else its installed absolute path."""
    path = path.resolve()
    for short in (Path("accelerate_configs") / path.name, Path("recipes") / path.parent.name / path.name):
        if short.exists() and short.resolve() == path:
            return str(short)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def accelerate_config_path(name: str) -> Path:
    """The accelerate config for a launch name (ddp, zero2, zero3, fsdp) or a path to a config file."""
    if name in LAUNCH_CONFIGS:
        return config_dir() / f"{name}.yaml"
    path = Path(name)
    if path.is_file():
        return path
    raise MixtuneError(
        f"--launch '{name}': choose one of {', '.join(LAUNCH_CONFIGS)} or give an accelerate config file"
    )


def uses_deepspeed(config: str | Path) -> bool:
    """Whether an accelerate config file runs DeepSpeed (read from the file, so custom configs count)."""
    import yaml

    data = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    return str(data.get("distributed_type", "")).upper() == "DEEPSPEED"


@dataclass
class LaunchPlan:
    """The command(s) that start a multi-process run, and the environment they need."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    per_node: bool = False  # run argv once on every node (machine_rank differs per node)
    notes: list[str] = field(default_factory=list)

    def shell(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + shell_join(self.argv)


def shell_join(argv: list[str]) -> str:
    """shlex.join, except that `$VAR` tokens stay expandable (double-quoted) for the node's shell."""
    return " ".join(f'"{a}"' if re.fullmatch(r"\$[A-Z_][A-Z0-9_]*", a) else shlex.quote(a) for a in argv)


def build_launch_command(
    module: str,
    stage_args: list[str],
    launch: str,
    gpus: int,
    nodes: int = 1,
    cpu: bool = False,
    machine_rank: str | int | None = None,
    main_process_ip: str | None = None,
    main_process_port: int = 29500,
) -> LaunchPlan:
    """Build the launch command for `python -m <module> <stage_args>` over `gpus` devices per node.

    `gpus` counts processes per node; `nodes` > 1 adds accelerate's machine flags (rank and main
    address default to SLURM's variables, expanded by the shell on each node).
    With `cpu`, the processes are CPU gloo processes: plain DDP (no `launch`, or `ddp`) through
    torchrun; an FSDP config through `accelerate launch` with that config; DeepSpeed configs are
    refused (`_cpu_launch`), never swapped for another strategy.
    """
    if gpus < 1:
        raise MixtuneError(f"--gpus must be at least 1, got {gpus}")
    if nodes < 1:
        raise MixtuneError(f"--nodes must be at least 1, got {nodes}")
    if cpu and launch not in (None, "ddp"):
        return _cpu_launch(
            module, stage_args, launch, gpus, nodes, machine_rank, main_process_ip, main_process_port
        )
    if cpu:
        argv = ["torchrun", "--nproc_per_node", str(gpus), "--nnodes", str(nodes)]
        if nodes > 1:
            argv += _rendezvous(TORCHRUN_RENDEZVOUS, machine_rank, main_process_ip, main_process_port)
        else:
            # a free local port, so two runs on one machine do not collide on 29500
            argv += ["--standalone"]
        return LaunchPlan(argv + ["-m", module, *stage_args], per_node=nodes > 1)
    config = accelerate_config_path(launch)
    config_arg = display_path(config)
    argv = [
        "accelerate",
        "launch",
        "--config_file",
        config_arg,
        "--num_processes",
        str(gpus * nodes),
        "--num_machines",
        str(nodes),
    ]
    if nodes > 1:
        argv += _rendezvous(ACCELERATE_RENDEZVOUS, machine_rank, main_process_ip, main_process_port)
    elif gpus == 1 and launch == "ddp":
        # one process needs no DDP wrapper; accelerate refuses --multi_gpu with one process
        argv = ["accelerate", "launch", "--num_processes", "1", "--num_machines", "1"]
    argv += ["-m", module, *stage_args]
    return LaunchPlan(argv, per_node=nodes > 1)


def _resolve_executable(argv: list[str]) -> list[str]:
    """Run `accelerate`/`torchrun` from this interpreter when their scripts are not on PATH."""
    head = argv[0]
    if shutil.which(head):
        return argv
    if head == "accelerate" and argv[1:2] == ["launch"]:
        return [sys.executable, "-m", "accelerate.commands.launch", *argv[2:]]
    if head == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", *argv[1:]]
    return argv


def run_launch(plan: LaunchPlan) -> int:
    """Run a launch plan in the foreground and return its exit code.

    A multi-node plan runs through `srun` inside a SLURM allocation; outside one it is an error
    that points at the SLURM launcher script.
    """
    env = {**os.environ, **plan.env}
    argv = _resolve_executable(plan.argv)
    if plan.per_node:
        if "SLURM_JOB_ID" not in os.environ:
            raise MixtuneError(
                "multi-node runs start one launcher per node: submit them with "
                f"`sbatch --nodes N {display_path(slurm_script())} <stage> <recipe> <launch>` "
                "(or run the printed --dry-run command on every node with its machine rank)"
            )
        env.setdefault("MASTER_ADDR", _slurm_master_addr())
        argv = ["srun", "--ntasks-per-node=1", "bash", "-c", shell_join(argv)]
    return subprocess.call(argv, env=env)


def _slurm_master_addr() -> str:
    nodes = os.environ.get("SLURM_JOB_NODELIST", "")
    try:
        out = subprocess.run(
            ["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, check=True
        )
        return out.stdout.split()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        raise MixtuneError("could not find the SLURM master node (scontrol show hostnames failed)") from None


def _cpu_launch(
    module: str,
    stage_args: list[str],
    launch: str,
    gpus: int,
    nodes: int,
    machine_rank: str | int | None,
    main_process_ip: str | None,
    main_process_port: int,
) -> LaunchPlan:
    """`--launch NAME --cpu`: the launch config itself, in CPU gloo processes, or a clear refusal.

    accelerate's own `--cpu` flag always starts a single process, so the command leaves it out; the
    stage processes train on the CPU anyway (no CUDA), and MIXTUNE_CPU_FSDP=1 lets accelerate keep FSDP
    there (`mixtune.training.device.enable_cpu_fsdp`)."""
    import yaml

    config = accelerate_config_path(launch)
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    kind = str(data.get("distributed_type", "")).upper()
    if kind == "DEEPSPEED":
        raise MixtuneError(
            f"--launch {launch} --cpu: DeepSpeed cannot train in CPU processes through accelerate 1.15. "
            "DeepSpeed's CPU accelerator (gloo) itself starts, but `accelerate launch --cpu` runs a "
            "single process; without --cpu accelerate sets DeepSpeed up with num_processes=1 while "
            "DeepSpeed sees every process, so its batch check fails (train_batch_size != micro batch x "
            "accumulation x world size); and a CPU run (use_cpu) switches DeepSpeed off. Use "
            "--launch fsdp --cpu for sharded training on CPU, or run ZeRO on GPUs"
        )
    if kind != "FSDP":
        raise MixtuneError(
            f"--launch {launch} --cpu: {config} has distributed_type {kind or '(none)'}; on CPU mixtune runs "
            "ddp (torchrun) or fsdp configs"
        )
    argv = ["accelerate", "launch", "--config_file", display_path(config)]
    argv += ["--num_processes", str(gpus * nodes), "--num_machines", str(nodes)]
    if nodes > 1:
        argv += _rendezvous(ACCELERATE_RENDEZVOUS, machine_rank, main_process_ip, main_process_port)
    else:
        argv += ["--main_process_port", "0"]  # a free port, so concurrent runs do not collide
    from mixtune.training.device import CPU_FSDP_ENV

    return LaunchPlan(argv + ["-m", module, *stage_args], env={CPU_FSDP_ENV: "1"}, per_node=nodes > 1)


TORCHRUN_RENDEZVOUS = ("--node_rank", "--master_addr", "--master_port")
ACCELERATE_RENDEZVOUS = ("--machine_rank", "--main_process_ip", "--main_process_port")


def _rendezvous(
    flags: tuple[str, str, str], machine_rank: int | None, main_process_ip: str | None, main_process_port: int
) -> list[str]:
    """A multi-node launcher's rank/address/port flags; SLURM's variables stand in for what is not given."""
    rank_flag, ip_flag, port_flag = flags
    rank = str(machine_rank if machine_rank is not None else "$SLURM_NODEID")
    return [rank_flag, rank, ip_flag, main_process_ip or "$MASTER_ADDR", port_flag, str(main_process_port)]
