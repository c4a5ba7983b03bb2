"""`make clean-demo` removes the demo's own outputs and nothing that other experiments share."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_clean_demo_removes_only_the_demos_own_outputs(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("Makefile", "Snakefile", "config.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, work)
    for name in ("workflow", "src", "envs"):
        shutil.copytree(REPO / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = Path(sys.executable).parents[1]
    plan = subprocess.run([str(venv / "bin" / "snakemake"), "-n", "--forceall"], cwd=work,
                          capture_output=True, text=True, check=True).stdout
    paths = sorted(set(re.findall(r"(?:results|resources)/[^ ,\n]+", plan)))
    for path in paths:  # a finished demo run, as files
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text("made by the demo")
    other = work / "results" / "paper" / "tables" / "results.csv"  # another experiment's result
    other.parent.mkdir(parents=True)
    other.write_text("not the demo's")
    result = subprocess.run(["make", "-o", f"{venv}/.installed", "clean-demo", f"VENV={venv}"],
                            cwd=work, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    left = {path for path in paths if (work / path).exists()}
    own = {p for p in paths if "/demo/" in p or "results/pretrain/" in p or "/pretrain/paper" in p}
    assert own and not own & left  # every path of the demo's own is gone
    shared = {p for p in paths if p.startswith(("resources/", "results/data/", "results/bicubic/",
                                                "results/lpips_network/"))}
    assert shared and shared <= left, shared - left  # what other experiments share is kept
    assert other.exists()
    assert left == set(paths) - own, sorted(set(paths) - own - left)
