"""benchmarks/gpu_check.sh prepare works from a fresh checkout: from a benchmark folder given as
its argument, or, without one, through the pipeline's checksummed downloads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED_DATA


def fresh_checkout(tmp_path: Path) -> Path:
    """The script and the package in a folder that has no ../shared beside it."""
    work = tmp_path / "checkout" / "repo"
    (work / "benchmarks").mkdir(parents=True)
    shutil.copy(REPO / "benchmarks" / "gpu_check.sh", work / "benchmarks")
    shutil.copytree(REPO / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return work


def prepare(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHON": sys.executable}
    return subprocess.run(["bash", "benchmarks/gpu_check.sh", "prepare", *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_prepare_copies_a_benchmark_folder_given_as_argument(tmp_path: Path) -> None:
    if not (SHARED_DATA / "T91").is_dir():
        pytest.skip(f"no benchmark images at {SHARED_DATA}")
    work = fresh_checkout(tmp_path)
    result = prepare(work, str(SHARED_DATA))
    assert result.returncode == 0, result.stderr
    for folder, source in (("T91", SHARED_DATA / "T91"), ("BSD100", SHARED_DATA / "BSD100" / "HR"),
                           ("Set5", SHARED_DATA / "Set5" / "HR")):
        copied = sorted(p.name for p in (work / ".gpudata" / folder).glob("*.png"))
        assert copied and copied == sorted(p.name for p in source.glob("*.png")), folder


def test_prepare_without_a_folder_downloads_through_the_registry(tmp_path: Path) -> None:
    """No network here: the download is tried (the registry's URL, named) and fails clearly."""
    work = fresh_checkout(tmp_path)
    result = prepare(work)
    assert "downloading Set5, B100 and Set14" in result.stderr
    if result.returncode == 0:  # a machine with network
        assert len(list((work / ".gpudata" / "Set5").glob("*.png"))) == 5
    else:
        assert "benchmark.tar still failing after" in result.stderr, result.stderr[-2000:]
