"""Where mixtune keeps caches and finds the files it ships.

Shipped files (launch configs, the SLURM launcher, stage and mixture recipes, sample data) live
inside the Python packages, so a wheel carries them, and are found through `importlib.resources`,
never relative to a source checkout. Each is named by its path in the source tree
(`accelerate_configs/zero3.yaml`, `recipes/starchat2-15b/run.sh`, `sft/recipes/demo.yaml`); in a
checkout the top-level `accelerate_configs/` and `recipes/` are links into `mixtune/`.

    python -m mixtune.paths recipes/starchat2-15b/run.sh   # prints where that file is installed
"""

from __future__ import annotations

import os
import sys
from importlib.resources import as_file, files
from pathlib import Path

# The directory that holds the top-level packages (the checkout, or site-packages in a wheel install).
REPO_ROOT = Path(__file__).resolve().parent.parent

SHIPPING_PACKAGES = ("mixtune", "sft", "dpo", "mixtures", "evals", "chat_ui")
# top-level names in the source tree that are directories of the `mixtune` package
MIXTUNE_DIRS = ("accelerate_configs", "recipes")


def shipped(relpath: str | Path) -> Path:
    """The installed location of a shipped file or directory, named by its source-tree path.

    Raises FileNotFoundError naming the path when mixtune does not ship it."""
    parts = Path(relpath).parts
    if parts and parts[0] in MIXTUNE_DIRS:
        package, rest = "mixtune", parts
    elif parts and parts[0] in SHIPPING_PACKAGES:
        package, rest = parts[0], parts[1:]
    else:
        raise FileNotFoundError(
            f"{relpath}: not a file mixtune ships (its packages: {', '.join(SHIPPING_PACKAGES)})"
        )
    resource = files(package).joinpath(*rest)
    with as_file(resource) as path:  # packages install as directories: this is the path itself
        if not Path(path).exists():
            raise FileNotFoundError(f"{relpath}: mixtune ships no such file (looked in {path})")
        return Path(path)


def find_file(value: str | Path) -> Path:
    """A path as given when it exists (relative to the working directory), else the shipped file of
    that source-tree name (`sft/recipes/demo.yaml` works from any directory), else as given."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists():
        return path
    try:
        return shipped(path)
    except FileNotFoundError:
        return path


def cache_dir(*parts: str) -> Path:
    """$MIXTUNE_CACHE (default ~/.cache/mixtune), joined with parts and created."""
    base = Path(os.environ.get("MIXTUNE_CACHE", Path.home() / ".cache" / "mixtune"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    """Print the path of each named file: as given when it exists here, else where it is installed."""
    names = sys.argv[1:] if argv is None else argv
    if not names:
        print("usage: python -m mixtune.paths SOURCE-TREE-PATH ...", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        found = find_file(name)
        if not found.exists():
            print(f"{name}: not found here and not shipped with mixtune", file=sys.stderr)
            status = 1
        print(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
