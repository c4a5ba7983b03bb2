# The two commands of the README: `make demo` (the embedded offline run) and `make test`.
# Both create the virtual environment on first use; nothing else needs installing by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
CORES ?= all
# Snakemake's `script:` jobs must find this environment's python.
export PATH := $(BIN):$(PATH)

.PHONY: demo test lint format config-doc dryrun clean-demo install

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

# Snakemake's linter and snakefmt (2.1.0); the tests run both, so CI does too.
SMK_FILES := Snakefile $(wildcard workflow/rules/*.smk)
lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check $(SMK_FILES)

format: $(STAMP)
	$(BIN)/snakefmt $(SMK_FILES)

# config/README.md, the config reference, from the schema (tests/test_style.py checks it is current).
config-doc: $(STAMP)
	$(BIN)/python -c "import yaml, pathlib; from srgan.config import schema_markdown; \
	pathlib.Path('config/README.md').write_text(schema_markdown(yaml.safe_load(open('workflow/schemas/config.schema.yaml'))))"

dryrun: $(STAMP)
	$(BIN)/snakemake -n --show-failed-logs

# The demo's own outputs, and nothing that other experiments share: every path of the demo's plan
# that is under its experiment's name or its SRResNet pretraining (results/pretrain/<key>/, named by
# the plan), so the next `make demo` trains from scratch. Datasets, image stores, bicubic baselines
# and the LPIPS status stay (tests/test_makefile.py).
DEMO_EXP ?= demo
clean-demo: $(STAMP)
	$(BIN)/snakemake -n --forceall 2>/dev/null | grep -oE 'results/[^ ,]+' | sort -u \
	  | grep -E '/($(DEMO_EXP)|pretrain/[A-Za-z0-9_.-]+)(/|\.|$$)' | xargs -r rm -rf
	rm -rf results/$(DEMO_EXP)
