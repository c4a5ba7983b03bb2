"""The tiny DAG on a real one-node SLURM cluster, submitted through profiles/slurm.

The cluster is set up by .ci/slurm/setup-single-node.sh (Debian's slurm 22.05 and munge, installed
with apt when absent; a fake GPU, no accounting). It needs root, so it is skipped elsewhere. Cost:
about 15 s of apt and 5 s of daemons, then 2-3 minutes for the DAG, most of it job start-up and the
executor plugin's status polling (its interval grows by 10 s per check that finds nothing new).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_config, run_snakemake

SETUP = REPO / ".ci" / "slurm" / "setup-single-node.sh"
PROFILE = REPO / "profiles" / "slurm"
TINY = "tests/config/tiny.yaml"
GPU_RULES = {"pretrain", "train_gan", "evaluate", "evaluate_snapshots"}
# The rules' own mem_mb (4-16 GB) is sized for real runs and may exceed a CI node's RealMemory, in
# which case sbatch rejects the job outright; the tiny config needs well under 1 GB per job.
HEAVY_RULES = ("prepare_train", "pretrain", "train_gan", "evaluate", "evaluate_snapshots")
DAG_TIMEOUT_S = 900  # the run is killed (SIGKILL) after this, so a stuck status loop cannot hang CI
# "Job 3 has been submitted with SLURM jobid 17 (log: /tmp/.../.snakemake/slurm_logs/rule_x/17.log)."
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) ")
SBATCH_CALL = re.compile(r"^sbatch call: (sbatch .*)$", re.MULTILINE)


def _skip_reason() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root: the test installs slurm and starts munged, slurmctld and slurmd"
    if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
        return "slurm is not installed and apt-get is absent to install it"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]


def _setup(verb: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["timeout", "-s", "KILL", str(int(timeout)), str(SETUP), verb],
                          capture_output=True, text=True, timeout=timeout + 30)


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node cluster; stopped afterwards unless it was already running before."""
    was_running = _setup("status", 30).returncode == 0
    start = time.monotonic()
    result = _setup("start", 600)
    try:
        if result.returncode != 0:
            pytest.fail(f"{SETUP.name} start failed (exit {result.returncode}):\n"
                        f"{result.stdout}\n{result.stderr[-4000:]}")
        print(f"\nSLURM set-up: {time.monotonic() - start:.1f} s "
              f"({'already running' if was_running else 'started'})")
        yield
    finally:
        if not was_running:
            stop = _setup("stop", 120)
            print(f"SLURM stop: exit {stop.returncode}")


def _scontrol_job(job_id: str) -> dict[str, str]:
    """`scontrol show job -o ID` as a dict (MinJobAge keeps finished jobs visible)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    # One line of KEY=VALUE fields; values may contain '=' (TRES=cpu=1,...) but not ' KEY='.
    return dict(re.findall(r"(?:^|\s)([\w:/]+)=(.*?)(?=\s+[\w:/]+=|\s*$)", out.strip()))


def _cancel(job_ids: list[str]) -> None:
    if job_ids:
        subprocess.run(["scancel", *job_ids], capture_output=True, timeout=30)


def test_tiny_dag_runs_through_slurm(slurm_cluster, tmp_path: Path) -> None:
    config = copy_config(TINY, tmp_path / "tiny.yaml")
    start = time.monotonic()
    output = ""
    try:
        # run_snakemake's timeout kills snakemake with SIGKILL (like `timeout -s KILL`): on SIGTERM
        # Snakemake would only begin a graceful wait for its jobs.
        result = run_snakemake(
            tmp_path, "--profile", str(PROFILE), "--configfile", str(config), "--verbose",
            "--set-resources", *(f"{rule}:mem_mb=1000" for rule in HEAVY_RULES),
            timeout=DAG_TIMEOUT_S)
        output = result.stdout + result.stderr
    except subprocess.TimeoutExpired as error:
        output = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                         for part in (error.stdout, error.stderr))
        pytest.fail(f"the SLURM run did not finish within {DAG_TIMEOUT_S} s:\n{output[-6000:]}")
    finally:
        wall = time.monotonic() - start
        # Leave no job of this run behind, whatever happened.
        _cancel([slurm_id for _, slurm_id in SUBMITTED.findall(output)
                 if subprocess.run(["squeue", "-h", "-j", slurm_id, "-t", "PD,R,CG"],
                                   capture_output=True, text=True, timeout=30).stdout.strip()])
    assert result.returncode == 0, output[-6000:]

    # Every output of the tiny config exists.
    exp = tmp_path / "results" / "tiny"
    for path in ("tables/results.csv", "tables/results.md", "tables/bicubic.md",
                 "figures/curves.png", "figures/comparison_tiny_test.png",
                 "figures/progress_srgan.png"):
        assert (exp / path).is_file(), path

    # One SLURM job per job that Snakemake ran as a cluster job ("rule X:"; local jobs are printed
    # as "localrule X:"), each seen by slurmctld, completed, and named after its rule.
    submitted = SUBMITTED.findall(output)
    slurm_ids = [slurm_id for _, slurm_id in submitted]
    remote_rules = re.findall(r"^rule (\w+):$", output, re.MULTILINE)
    local_rules = re.findall(r"^localrule (\w+):$", output, re.MULTILINE)
    assert len(slurm_ids) == len(set(slurm_ids)) == len(remote_rules) > 0, (submitted, remote_rules)
    assert {"tables", "bicubic_table", "all"} <= set(local_rules), local_rules

    jobs = {slurm_id: _scontrol_job(slurm_id) for slurm_id in slurm_ids}
    rule_of = {slurm_id: re.sub(r"^rule_|_wildcards_.*$", "", job["Comment"])
               for slurm_id, job in jobs.items()}
    assert sorted(rule_of.values()) == sorted(remote_rules)
    assert not set(rule_of.values()) & set(local_rules)
    assert GPU_RULES | {"prepare_dataset", "prepare_train", "prepare_eval", "bicubic_baseline"} \
        <= set(rule_of.values()), rule_of
    for slurm_id, job in jobs.items():
        assert job["JobState"] == "COMPLETED", (slurm_id, job)

    # GPU rules asked for exactly one GPU, the plugin's way (sbatch --gpus=1), and slurmctld
    # recorded that request (TresPerJob; without slurmdbd, TRES= lists no GPUs); the others asked
    # for none.
    calls = {re.search(r"--comment '?rule_(\w+?)(?:_wildcards_\S*?)?'? ", call)[1]: call
             for call in SBATCH_CALL.findall(output)}
    for slurm_id, rule in rule_of.items():
        per_job = jobs[slurm_id].get("TresPerJob", "")
        if rule in GPU_RULES:
            assert " --gpus=1 " in calls[rule], calls[rule]
            assert per_job == "gres:gpu:1", (rule, per_job)
        else:
            assert "--gpus" not in calls[rule], calls[rule]
            assert "gpu" not in per_job, (rule, per_job)

    print(f"\nSLURM DAG wall time: {wall:.1f} s for {len(slurm_ids)} cluster jobs "
          f"and {len(local_rules)} local ones")
    for slurm_id in sorted(slurm_ids, key=int):
        job = jobs[slurm_id]
        print(f"  SLURM job {slurm_id:>4}  {rule_of[slurm_id]:<17} {job['JobState']:<10} "
              f"run {job['RunTime']}  TRES {job['TRES']}  {job.get('TresPerJob', '')}")
    print("  sbatch call of pretrain:", calls["pretrain"].split(" --wrap=")[0])
