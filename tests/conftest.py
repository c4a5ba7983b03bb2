"""Shared test fixtures: paths, the offline benchmark data, a Snakemake runner, and generators
with trained-looking BN statistics."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.io import list_images
from srgan.models import SRResNet
from srgan.patches import write_image_store

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout; SRGAN_SHARED_DATA overrides it.
SHARED_DATA = Path(os.environ.get("SRGAN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "Set5" / "HR").is_dir():
        pytest.skip(f"offline benchmark data not found at {SHARED_DATA} (set SRGAN_SHARED_DATA)")
    return SHARED_DATA


def snakemake_command() -> list[str]:
    """Snakemake from the test's own environment, so that its scripts get the same python."""
    exe = Path(sys.executable).with_name("snakemake")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]


def run_snakemake(workdir: Path, *args: str, timeout: float = 900, env: dict | None = None,
                  new_session: bool = False) -> subprocess.CompletedProcess:
    """Run the repository's workflow with ``workdir`` as its working directory; ``env`` adds
    variables, ``new_session`` gives it a process group of its own (for the kill test)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               **(env or {}))
    command = [*snakemake_command(), "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir,
                          start_new_session=new_session)


def write_random_store(folder: Path, *, count: int, shape: tuple[int, int], seed: int = 0) -> Path:
    """An image store (``folder/store``) of ``count`` random RGB images of ``shape`` (H, W),
    saved as PNG in ``folder/images`` first; returns the store's folder."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(images / f"{k}.png")
    write_image_store(list_images(images), folder / "store", scale=4)
    return folder / "store"


class CreatesAFile:
    """A pickle payload: unpickling it calls open(path, "w"), which creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def copy_config(name: str, target: Path) -> Path:
    """A copy of a config (``config.yaml`` or ``tests/config/<name>``) that a test may edit."""
    source = REPO / name
    shutil.copy(source, target)
    return target


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the SLURM test last. Once it has stopped its one-node cluster, the slurm executor
    plugin's `scontrol show config` at every Snakemake start retries the stopped slurmctld for
    about 10 s, which would slow every later workflow test by that much."""
    items.sort(key=lambda item: Path(str(item.fspath)).name == "test_slurm.py")


def trained_bn_generator(*, num_blocks: int = 3, upsample: str = "pixelshuffle", channels: int = 32,
                         seed: int = 0) -> SRResNet:
    """A random-init generator whose BN running statistics are not the identity (a few train-mode
    forwards), returned in eval mode, as a trained one would be evaluated."""
    torch.manual_seed(seed)
    generator = SRResNet(num_blocks=num_blocks, upsample=upsample, channels=channels)
    with torch.no_grad():
        for _ in range(3):
            generator(torch.rand(2, 3, 12, 12) * 0.8 + 0.1)
    bn = generator.trunk[-1]
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    return generator.eval()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 16 MiB tmpfs, so that a disk really fills up (needs root; skipped otherwise)."""
    yield from mounted_tmpfs(tmp_path, "size=16m")


@pytest.fixture
def read_only_disk(tmp_path: Path):
    """A read-only tmpfs, which even root cannot write (needs root; skipped otherwise)."""
    yield from mounted_tmpfs(tmp_path, "size=1m,ro")


def mounted_tmpfs(tmp_path: Path, options: str):
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small file system")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip()}); needs root")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path) -> Path:
    """Write zeros into ``folder`` until its file system is full."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    return filler
