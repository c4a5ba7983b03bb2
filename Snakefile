# SRGAN reproduction (Ledig et al., CVPR 2017): data -> SRResNet -> SRGAN -> metrics -> figures.
# `snakemake --cores all` runs the embedded offline default; see README.md.

import sys
from pathlib import Path

from snakemake.utils import min_version

# This checkout's srgan package, for the workflow and for every script job: Snakemake's script
# preamble hands the workflow's sys.path on to each job, also to a job in a conda env of envs/,
# which holds third-party packages only (a pip path like `-e ../` cannot work from Snakemake's
# copy of an env file).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from srgan.config import load_yaml

min_version("9.0")


# --configfile replaces the embedded default rather than merging over it, so a preset or a user's
# config never inherits the offline demo's shortcuts (skimage data, random-VGG fallback).
if not workflow.overwrite_configfiles:
    # a syntax error names the file and line (Snakemake's does not)
    load_yaml("config.yaml")

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/upscale.smk"


# Aggregation rules that take seconds run on the submitting host, never as cluster jobs.
localrules:
    all,
    adopt_pretrain,
    tables,
    bicubic_table,
    ablation,
    lpips_network,
    record_config,


rule all:
    default_target: True
    input:
        all_outputs(),
