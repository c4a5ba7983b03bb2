# SRGAN reproduction (Ledig et al., CVPR 2017): data -> SRResNet -> SRGAN -> metrics -> figures.
# `snakemake --cores all` runs the embedded offline default; see README.md.

configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
