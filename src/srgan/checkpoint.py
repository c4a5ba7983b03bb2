"""Checkpoints: safe loading, atomic saving with readable faults, resume state, fingerprints, RNGs.

Every checkpoint of this project is a self-describing dict of tensors and plain Python values
(``kind`` says what it is), so that it loads with ``torch.load(weights_only=True)``: loading a
checkpoint never runs code, whoever made the file. RNG states are stored as tensors and ints for
the same reason.

Resume state is for interrupted runs only. A training stage keeps it in one folder,
``<stage dir>/resume/``: ``state.pt`` (modules, optimizers, RNGs, position, running sums, the
training log so far) and ``snapshots/`` (the generator at each evaluation point, moved into the
stage's declared output when the stage completes). The state carries a fingerprint of everything
that shapes the result, including the identity of what the stage reads (the training data's
content, the starting weights), and is removed once the stage's outputs are written.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import pickle
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from srgan.io import atomic_dir, atomic_path

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
SNAPSHOT_DIR = "snapshots"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or written; the message names the file and what to do."""


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint dict from ``path``, loaded with ``weights_only=True`` onto the CPU.

    Raises CheckpointError naming the file when it is missing, truncated, not a torch file, or a
    pickle that holds more than tensors and plain values (which would run code if loaded).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        culprit = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        raise CheckpointError(
            f"refused to load checkpoint {path}: it holds Python objects beyond tensors and plain "
            f"values ({culprit[1] if culprit else 'not a plain checkpoint'}), which loading would "
            f"have to execute: a crafted or foreign file? Only checkpoints written by this "
            f"project are accepted") from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is truncated or not a torch checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'}); "
            f"delete it, or rerun the rule that writes it") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a checkpoint dict")
    return state


def _is_out_of_space(error: BaseException) -> bool:
    """ENOSPC, whether Python raised it or torch's C++ writer reported it as an iostream error."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def save_checkpoint(path: str | os.PathLike, state: Mapping) -> None:
    """torch.save to a temporary file beside ``path``, then rename: a kill or a full disk never
    leaves a truncated checkpoint, and the previous file at ``path`` stays as it was.

    The state goes through a Python file object, so that a full disk surfaces as ENOSPC instead
    of torch's bare "basic_ios::clear: iostream error".
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                torch.save(dict(state), handle)
    except (OSError, RuntimeError) as error:
        kept = f"; the last good checkpoint, {path}, is kept unchanged" if path.exists() else ""
        if _is_out_of_space(error):
            free = shutil.disk_usage(path.parent).free
            raise CheckpointError(
                f"no space left on device while writing checkpoint {path} ({free / 2**20:.1f} MiB "
                f"free on its file system){kept}. Free some space and rerun to continue") from error
        raise CheckpointError(f"cannot write checkpoint {path}: {error}{kept}") from error


def fingerprint(settings: Mapping) -> str:
    """Short hash of the settings that shape a stage's result; a resume needs the same one."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 of a state dict's names, dtypes, shapes and values: the identity of weights,
    independent of what else their checkpoint file holds (history, timings)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def rng_states() -> dict:
    """Every RNG a step could touch, as tensors and plain values (``weights_only`` loads them)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    states = {"torch": torch.get_rng_state(),
              "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
              "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64),
                         "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping) -> None:
    """Restore what :func:`rng_states` recorded."""
    torch.set_rng_state(states["torch"])
    numpy = states["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    python = states["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()),
                     python["gauss_next"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def set_aside(resume_dir: Path, reason: str) -> Path:
    """Move a resume folder out of the way (one slot per reason, replacing an older one)."""
    target = resume_dir.with_name(f"{resume_dir.name}.{reason}")
    if target.exists():
        shutil.rmtree(target)
    resume_dir.replace(target)
    return target


def load_resume_state(resume_dir: Path, expected_fingerprint: str) -> dict | None:
    """The resume state in ``resume_dir`` if it continues a run of these very settings and
    inputs; otherwise None, with the folder moved aside (``.stale`` for other settings,
    ``.corrupt`` for an unreadable, unsafe or inconsistent state) and a warning naming it.

    A folder without ``state.pt`` (a run killed before its first checkpoint, or one killed
    while finishing) holds nothing to continue and is removed.
    """
    resume_dir = Path(resume_dir)
    state_path = resume_dir / STATE_FILE
    if not state_path.exists():
        if resume_dir.exists():
            shutil.rmtree(resume_dir)
        return None
    try:
        state = load_checkpoint(state_path)
        if state.get("kind") != "resume":
            raise CheckpointError(f"{state_path} is a {state.get('kind')!r} checkpoint, not resume state")
        missing = [row["iteration"] for row in state["history"]
                   if not snapshot_path(resume_dir, row["iteration"]).is_file()]
        if missing:
            raise CheckpointError(f"{state_path} lacks the snapshots of iterations {missing}")
    except (CheckpointError, KeyError, TypeError) as error:
        moved = set_aside(resume_dir, "corrupt")
        log.warning("resume state %s is unusable (%s); moved to %s; training starts from scratch",
                    state_path, error, moved)
        return None
    if state.get("fingerprint") != expected_fingerprint:
        moved = set_aside(resume_dir, "stale")
        log.warning("resume state %s was made with other settings or inputs (fingerprint %s, now "
                    "%s): not reused, moved to %s; training starts from scratch", state_path,
                    state.get("fingerprint"), expected_fingerprint, moved)
        return None
    log.info("resuming from %s: epoch %d, %d batches into it (iteration %d)", state_path,
             state["epoch"], state["batch"], state["iteration"])
    return state


def snapshot_path(resume_dir: Path, iteration: int) -> Path:
    return Path(resume_dir) / SNAPSHOT_DIR / f"iter_{iteration:09d}.pt"


def finish_resume(resume_dir: Path, snapshots_out: Path) -> None:
    """Once a stage's other outputs are written: drop its resume state, then move its snapshots
    to their declared output folder. In this order a kill at any point leaves either a state
    that resumes to the same end, or no state at all (the rerun trains from scratch)."""
    resume_dir, snapshots_out = Path(resume_dir), Path(snapshots_out)
    (resume_dir / STATE_FILE).unlink(missing_ok=True)
    if snapshots_out.exists():
        shutil.rmtree(snapshots_out)
    snapshots_out.parent.mkdir(parents=True, exist_ok=True)
    try:
        (resume_dir / SNAPSHOT_DIR).replace(snapshots_out)
    except OSError as error:  # another file system: copy into a temporary folder, then rename
        if error.errno != errno.EXDEV:
            raise
        with atomic_dir(snapshots_out) as tmp:
            for snapshot in sorted((resume_dir / SNAPSHOT_DIR).iterdir()):
                shutil.copy2(snapshot, tmp / snapshot.name)
    shutil.rmtree(resume_dir)
