"""srgan.checkpoint: safe loading, readable write faults (a really full disk), RNG states that
load with weights_only, and the digests that identify a stage's inputs."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import fill, write_random_store
from srgan import training
from srgan.checkpoint import (STATE_FILE, CheckpointError, load_checkpoint,
                              rng_states, save_checkpoint, set_rng_states, weights_digest)
from srgan.training import run_pretrain


def test_a_full_disk_names_the_file_and_keeps_the_last_good_checkpoint(small_disk: Path) -> None:
    path = small_disk / "state.pt"
    save_checkpoint(path, {"kind": "resume", "weights": torch.arange(10.0)})
    fill(small_disk)
    with pytest.raises(CheckpointError, match=rf"no space left on device while writing checkpoint "
                                              rf"{path} .*the last good checkpoint, {path}, is kept"):
        save_checkpoint(path, {"kind": "resume", "weights": torch.zeros(200_000)})
    assert torch.equal(load_checkpoint(path)["weights"], torch.arange(10.0))
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "state.pt"]


def test_training_on_a_full_disk_stops_clearly_then_resumes_exactly(tmp_path: Path, small_disk: Path,
                                                                    monkeypatch) -> None:
    store = write_random_store(tmp_path, count=4, shape=(32, 32))

    def kwargs(name: str, resume_dir: Path) -> dict:
        return dict(store_dir=store, hr_size=16, per_image=6, variant="paper",
                    num_blocks=1, scale=4, epochs=2, batch_size=4, lr=1e-3, lr_schedule="constant",
                    seed=0, device=torch.device("cpu"), checkpoint_every=4, resume_dir=resume_dir,
                    generator_out=tmp_path / f"{name}_g.pt", train_log_out=tmp_path / f"{name}.csv",
                    snapshots_out=tmp_path / f"{name}_snapshots")

    run_pretrain(**kwargs("full", tmp_path / "full_resume"))
    real_step, filler = training.srresnet_step, []

    def filling_step(generator, optimizer, **options):
        step, calls = real_step(generator, optimizer, **options), {"n": 0}

        def wrapped(lr, hr):
            calls["n"] += 1
            if calls["n"] == 5:  # after the checkpoint of iteration 4
                filler.append(fill(small_disk))
            return step(lr, hr)
        return wrapped

    monkeypatch.setattr(training, "srresnet_step", filling_step)
    resume = small_disk / "resume"
    with pytest.raises(CheckpointError) as raised:
        run_pretrain(**kwargs("part", resume))
    message = str(raised.value)
    assert f"no space left on device while writing checkpoint {resume}/" in message
    assert f"the last good resume checkpoint, {resume / STATE_FILE} (iteration 4), is kept" in message
    assert load_checkpoint(resume / STATE_FILE)["iteration"] == 4
    monkeypatch.setattr(training, "srresnet_step", real_step)
    filler[0].unlink()
    run_pretrain(**kwargs("part", resume))
    a, b = load_checkpoint(tmp_path / "full_g.pt"), load_checkpoint(tmp_path / "part_g.pt")
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])
    assert not list(small_disk.rglob(".tmp-*"))


def test_load_checkpoint_names_the_file_of_every_fault(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"kind": "generator", "x": torch.ones(3)})
    assert torch.equal(load_checkpoint(good)["x"], torch.ones(3))
    with pytest.raises(CheckpointError, match=f"checkpoint {tmp_path / 'missing.pt'} does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint {truncated}: it is truncated"):
        load_checkpoint(truncated)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"kind": "generator", "x": np.arange(3)}, unsafe)  # a numpy array needs a global
    with pytest.raises(CheckpointError, match=f"refused to load checkpoint {unsafe}: .*numpy"):
        load_checkpoint(unsafe)
    not_a_dict = tmp_path / "list.pt"
    torch.save([1, 2], not_a_dict)
    with pytest.raises(CheckpointError, match="holds a list, not a checkpoint dict"):
        load_checkpoint(not_a_dict)


def test_rng_states_survive_a_weights_only_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.standard_normal()  # leaves numpy with a cached gaussian
    random.gauss(0, 1)  # and python's gauss_next set
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_states()})
    expected = (torch.rand(3), np.random.standard_normal(3), random.random(), random.gauss(0, 1))
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    set_rng_states(load_checkpoint(tmp_path / "rng.pt")["rng"])
    drawn = (torch.rand(3), np.random.standard_normal(3), random.random(), random.gauss(0, 1))
    assert torch.equal(drawn[0], expected[0])
    assert np.array_equal(drawn[1], expected[1])
    assert drawn[2:] == expected[2:]


def test_digests_identify_content() -> None:
    weights = {"a": torch.arange(4.0), "b": torch.ones(2, 2)}
    same = {"b": torch.ones(2, 2), "a": torch.arange(4.0)}
    changed = {"a": torch.arange(4.0), "b": torch.ones(2, 2).index_put_((torch.tensor([0]),), torch.tensor(2.0))}
    assert weights_digest(weights) == weights_digest(same)
    assert weights_digest(weights) != weights_digest(changed)
    assert weights_digest(weights) != weights_digest({"a": torch.arange(4.0).double(), "b": torch.ones(2, 2)})
