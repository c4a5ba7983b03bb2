"""House style that CI enforces: snakefmt-clean Snakemake files, and a config reference
(config/README.md) that says what the schema says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO
from srgan.config import schema_markdown

SNAKEMAKE_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def test_snakemake_files_are_snakefmt_clean() -> None:
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent)) or shutil.which("snakefmt")
    assert snakefmt, "snakefmt is not installed: it is in the test extra (pip install -e '.[test]')"
    result = subprocess.run([snakefmt, "--check", *map(str, SNAKEMAKE_FILES)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, f"run `make format`:\n{result.stdout}{result.stderr}"


def test_the_config_reference_is_generated_from_the_schema() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert (REPO / "config" / "README.md").read_text() == schema_markdown(schema), "run `make config-doc`"


def test_the_config_reference_lists_every_key() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    text = schema_markdown(schema)
    for key, spec in schema["properties"].items():
        for sub in spec.get("properties", {}):
            assert f"`{key}.{sub}`" in text, f"{key}.{sub}"
        assert f"`{key}`" in text, key
    for sub in schema["$defs"]["dataset"]["properties"]:
        assert f"`datasets.<name>.{sub}`" in text, sub


def test_the_readme_map_names_each_rules_script_and_library_function() -> None:
    """README's "From a stage to the code" table: each rule runs that script, and the script
    calls that library function (so the map cannot drift from the code)."""
    import importlib
    import re

    text = (REPO / "README.md").read_text().split("### From a stage to the code that does it")[1]
    rows = re.findall(r"^\| [^|]+ \| `(\w+)` \| `(\w+\.py)` \| `(\w+)\.(\w+)`", text, re.MULTILINE)
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    assert len(rows) >= 18
    for rule, script, module, function in rows:
        body = rules.split(f"rule {rule}:", 1)[1].split("\nrule ", 1)[0]
        assert f'"../scripts/{script}"' in body, (rule, script)
        source = (REPO / "workflow" / "scripts" / script).read_text()
        assert re.search(rf"\b{function}\(", source), (script, function)
        assert callable(getattr(importlib.import_module(f"srgan.{module}"), function)), (module, function)
