"""Trusting what is on disk: a built mixture is checked against the sha256 of every file its
manifest records before it counts as built, and work folders of builds that were killed
(SIGKILL, out of memory, power loss) are removed by the next build.

A folder a build is using holds `.owner` (the process id and its start time): a folder whose
owner is no longer running is stale. The start time guards against a reused process id.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from mixtune.built_mixture import load_mixture, verify_files  # noqa: F401  (read side lives in the ground package)
from mixtune.hashing import hash_file
from mixtune.manifest import MANIFEST, read_manifest, write_manifest

log = logging.getLogger(__name__)

OWNER = ".owner"
UNOWNED_STALE_S = 24 * 3600  # a folder from before owners were recorded: stale after a day


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def claim(folder: Path) -> None:
    """Mark `folder` as used by this process."""
    pid = os.getpid()
    (folder / OWNER).write_text(json.dumps({"pid": pid, "start": _start_time(pid)}), encoding="utf-8")


def release(folder: Path) -> None:
    (folder / OWNER).unlink(missing_ok=True)


def _alive(owner: dict[str, Any]) -> bool:
    pid = int(owner.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    start = owner.get("start")
    return start is None or _start_time(pid) in (None, start)


def is_stale(folder: Path) -> bool:
    marker = folder / OWNER
    try:
        owner = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        import time

        return time.time() - folder.stat().st_mtime > UNOWNED_STALE_S
    except (OSError, ValueError):
        return True
    return not _alive(owner)


def clean_stale_work(parent: Path, prefix: str = "") -> list[Path]:
    """Remove the folders under `parent` (names starting with `prefix`) left by dead builds."""
    removed = []
    if not parent.is_dir():
        return removed
    for folder in sorted(parent.iterdir()):
        if not folder.is_dir() or folder.is_symlink() or not folder.name.startswith(prefix):
            continue
        try:
            stale = is_stale(folder)
        except OSError:
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            log.info("removed the work folder of a build that did not finish: %s", folder)
    return removed


def mixture_files(out: Path) -> list[Path]:
    """Every file of a built mixture except the manifest itself, in a stable order."""
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name not in (MANIFEST, OWNER))


def record_files(out: Path) -> None:
    """Add the size and sha256 of every file to the manifest (the last file written)."""
    release(out)
    manifest = read_manifest(out)
    manifest["file_hashes"] = {
        p.relative_to(out).as_posix(): {"bytes": p.stat().st_size, "sha256": hash_file(p)}
        for p in mixture_files(out)
    }
    write_manifest(out, manifest)
