# The two commands of the README: `make demo` (the embedded offline run) and `make test`.
# Both create the virtual environment on first use; nothing else needs installing by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
CORES ?= all
# Snakemake's `script:` jobs must find this environment's python.
export PATH := $(BIN):$(PATH)

.PHONY: demo test lint dryrun clean-demo install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,slurm]'
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --show-failed-logs

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/snakemake --lint

dryrun: $(STAMP)
	$(BIN)/snakemake -n --show-failed-logs

# Everything the demo made, its shared SRResNet pretraining folder (results/pretrain/<key>/, named
# by the plan) included, so that the next `make demo` trains from scratch.
clean-demo: $(STAMP)
	for key in $$($(BIN)/snakemake -n --forceall 2>/dev/null | grep -o 'results/pretrain/[A-Za-z0-9_.-]*' | sort -u | cut -d/ -f3); do \
	  rm -rf results/pretrain/$$key results/logs/pretrain/$$key.log results/benchmarks/pretrain/$$key.tsv; done
	rm -rf results/demo results/data results/logs/demo results/benchmarks/demo resources/datasets
