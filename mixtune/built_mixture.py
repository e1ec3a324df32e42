"""Reading a built mixture you can trust: its files checked against the sizes (or sha256) the
manifest records before the rows are used. In the ground package so that training-data search
(`mixtune.attribution`) and other readers do not import the mixtures stage, which writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mixtune.errors import DataError
from mixtune.hashing import hash_file
from mixtune.manifest import read_manifest


def verify_files(out: Path, manifest: dict[str, Any], full: bool) -> list[str]:
    """What differs from the manifest's record: missing, resized or (with `full`) changed files.
    A manifest without a record (an older builder) cannot be verified and is reported as such."""
    recorded = manifest.get("file_hashes")
    if not isinstance(recorded, dict):
        return ["the manifest records no file hashes"]
    problems = []
    for rel, info in recorded.items():
        path = out / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != info.get("bytes"):
            problems.append(f"{rel} is {path.stat().st_size} bytes, the manifest says {info.get('bytes')}")
        elif full and hash_file(path) != info.get("sha256"):
            problems.append(f"{rel} does not match its sha256 in the manifest")
    return problems


def load_mixture(directory: str | Path) -> Any:
    """The `train` and `test` splits of a built mixture, as a `datasets.DatasetDict`."""
    from datasets import load_from_disk

    manifest = read_manifest(directory)
    if "file_hashes" in manifest:
        problems = verify_files(Path(directory), manifest, full=False)
        if problems:
            raise DataError(
                f"{directory}: damaged mixture ({'; '.join(problems[:3])}); `mix build` its recipe again"
            )
    return load_from_disk(str(directory))
