"""README's map of the code names every module of the packages and benchmarks, so a newcomer who
reads it finds each file (a new module without a map line fails here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAPPED = ("mixtune", "mixtures", "sft", "dpo", "completion", "evals", "chat_ui", "bench")
# sample code the mixtures and demos read as data, not modules of the project
DATA = ("mixtures/data/sample_repo/", "mixtures/data/copilot_repo/")


def modules() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    files = listed.stdout.split() or [str(p.relative_to(REPO)) for p in REPO.rglob("*.py")]
    return sorted(
        f
        for f in files
        if f.split("/", 1)[0] in MAPPED
        and not f.startswith(DATA)
        and Path(f).name not in ("__init__.py", "__main__.py")
    )


def named_in(readme: str, module: str) -> bool:
    """The README names the file by path, or by file name inside a line about its folder."""
    if module in readme:
        return True
    folder, name = module.rsplit("/", 1)
    return any(name in line and folder.split("/", 1)[0] in line for line in readme.splitlines()) or bool(
        re.search(rf"`{re.escape(name)}`", readme)
    )


def test_every_module_is_in_the_readme_map() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = modules()
    assert len(found) > 50, found
    missing = [m for m in found if not named_in(readme, m)]
    assert not missing, f"README's map does not name: {missing}"
