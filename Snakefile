# SRGAN reproduction (Ledig et al., CVPR 2017): data -> SRResNet -> SRGAN -> metrics -> figures.
# `snakemake --cores all` runs the embedded offline default; see README.md.

from srgan.config import load_yaml


# --configfile replaces the embedded default rather than merging over it, so a preset or a user's
# config never inherits the offline demo's shortcuts (skimage data, random-VGG fallback).
if not workflow.overwrite_configfiles:
    load_yaml("config.yaml")  # a syntax error names the file and line (Snakemake's does not)

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
    input:
        all_outputs(),
    default_target: True
