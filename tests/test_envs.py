"""The conda environments of ``snakemake --sdm conda`` (envs/*.yaml).

Snakemake copies an env file to ``<conda-prefix>/<hash>.yaml`` (default ``.snakemake/conda/``) and
runs ``conda env create --file`` on the copy (snakemake/deployment/conda.py, ``create_env``);
conda runs the pip section in the folder of that copy (conda/env/installers/pip.py,
``pip_workdir``). So the env files list third-party packages only, by name and version, and the
srgan package reaches the jobs from the checkout's src/ instead (through the workflow's sys.path,
which Snakemake's script preamble appends to each ``script:`` job's own).

The static tests below check every env file against pyproject.toml and the Makefile, and against
what each rule's script imports (followed through src/srgan, lazy imports included); the last two
create the envs and run one rule where conda (or mamba) is on PATH, and skip elsewhere.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO, snakemake_command

ENVS = REPO / "envs"
SRC = REPO / "src"

# pyproject dependencies that no job imports: the workflow's own process needs them. A snakemake
# inside a job env would also shadow the host's in the script preamble, which unpickles the host's
# job object (snakemake/script/__init__.py, generate_preamble).
HOST_ONLY = {"snakemake": "runs the workflow", "pygments": "snakemake --report"}
# Imported by no srgan code, but declared by pyproject.toml for a package that is: where that
# package is listed, this one is too, so that pyproject's floor holds there.
INDIRECT = {"scipy": "scikit-image"}
# conda-forge lacks the Makefile's torch build; a conda-forge torchmetrics would pull in
# conda-forge's pytorch beside pip's.
PIP_ONLY = {"torch", "torchvision", "torchmetrics"}
# conda-forge names whose Python distribution is named otherwise.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
NOT_PACKAGES = {"python", "pip"}
ALLOWED_KEYS = {"name", "channels", "dependencies"}
CONDA_SPEC = re.compile(r"^(?:[A-Za-z0-9_.-]+::)?(?P<name>[A-Za-z0-9_.-]+)\s*(?P<spec>[<>=!~,.*0-9a-zA-Z\s]*)$")


# --------------------------------------------------------------------------------------------
# What the project declares


@functools.cache
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


@functools.cache
def pyproject_dependencies() -> dict[str, SpecifierSet]:
    deps = {}
    for line in pyproject()["project"]["dependencies"]:
        req = Requirement(line)
        deps[canonicalize_name(req.name)] = req.specifier
    return deps


@functools.cache
def makefile_pins() -> dict[str, SpecifierSet]:
    """The ``name==version`` pins of the Makefile's pip installs (torch, torchvision)."""
    pins = {}
    for line in (REPO / "Makefile").read_text().splitlines():
        if "pip install" in line:
            for name, version in re.findall(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line):
                pins[canonicalize_name(name)] = SpecifierSet(f"=={version}")
    return pins


def expected_specifier(name: str) -> SpecifierSet:
    return makefile_pins().get(name, pyproject_dependencies().get(name, SpecifierSet()))


def load_envs() -> dict[str, dict]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(ENVS.glob("*.y*ml"))}


# --------------------------------------------------------------------------------------------
# Parsing one env file


def conda_specifier(spec: str) -> SpecifierSet:
    """A conda MatchSpec version (``=3.11``, ``>=1.24``, ``>=1,<2``) as a PEP 440 set."""
    parts = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if re.fullmatch(r"=[^=].*", part):  # conda's =X.Y means X.Y.*
            part = f"=={part[1:].rstrip('.*')}.*"
        elif re.fullmatch(r"[0-9].*", part):
            part = f"=={part}"
        parts.append(part)
    return SpecifierSet(",".join(parts))


def parse_env(env: dict) -> tuple[dict[str, tuple[str, SpecifierSet]], list[str]]:
    """({PyPI name: (section, specifier)}, problems) of one parsed env file; python and pip are
    listed under their own names."""
    problems, packages = [], {}
    if not isinstance(env, dict):
        return {}, ["is not a YAML mapping"]
    for key in sorted(set(env) - ALLOWED_KEYS):
        problems.append(f"has key {key!r}: only {sorted(ALLOWED_KEYS)} keep an env independent of "
                        "where it is created and which variables a job sees")
    for channel in env.get("channels") or []:
        if str(channel).startswith((".", "/", "~", "file:")):
            problems.append(f"channel {channel!r} is a local path")

    def add(name: str, section: str, spec: SpecifierSet, entry: str) -> None:
        if name in packages:
            problems.append(f"lists {name} twice ({entry!r})")
        packages[name] = (section, spec)

    for entry in env.get("dependencies") or []:
        if isinstance(entry, dict):
            for key, pip_entries in entry.items():
                if key != "pip":
                    problems.append(f"unknown dependency section {key!r}")
                    continue
                for pip_entry in pip_entries or []:
                    text = str(pip_entry).strip()
                    if text.startswith("-") or "/" in text or "\\" in text or text.startswith("."):
                        problems.append(
                            f"pip entry {text!r} is an option, a path or a URL: conda runs pip in "
                            "the folder of Snakemake's copy of the file (<conda-prefix>/<hash>.yaml), "
                            "so a relative path names another folder")
                        continue
                    try:
                        req = Requirement(text)
                    except InvalidRequirement as error:
                        problems.append(f"pip entry {text!r} is not a requirement: {error}")
                        continue
                    if req.url or req.marker:
                        problems.append(f"pip entry {text!r} has a URL or a marker")
                    add(canonicalize_name(req.name), "pip", req.specifier, text)
            continue
        text = str(entry).strip()
        match = CONDA_SPEC.match(text)
        if match is None or "/" in text:
            problems.append(f"conda entry {text!r} is not a package spec")
            continue
        name = canonicalize_name(match["name"])
        add(canonicalize_name(CONDA_TO_PYPI.get(name, name)), "conda", conda_specifier(match["spec"]), text)
    return packages, problems


# --------------------------------------------------------------------------------------------
# What each rule's script imports


RULE_PROBE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (ConfigSettings, DeploymentSettings, OutputSettings,
                                          ResourceSettings, StorageSettings)
    repo, workdir, out = map(Path, sys.argv[1:])
    rules = []
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(), storage_settings=StorageSettings(),
            config_settings=ConfigSettings(configfiles=[repo / "config.yaml"]),
            deployment_settings=DeploymentSettings(), snakefile=repo / "Snakefile", workdir=workdir,
        )._workflow
        for rule in workflow.rules:
            base = Path(rule.basedir.get_path_or_uri(secret_free=True))
            env, script = rule.conda_env, rule.script
            rules.append({
                "name": rule.name, "norun": bool(rule.norun),
                "env": None if env is None else str((base / env).resolve()) if isinstance(env, str) else repr(env),
                "script": None if script is None else str((base / script).resolve()),
            })
    out.write_text(json.dumps(rules))
""")


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> list[dict]:
    """Every rule of the workflow with its env file and script, as Snakemake parses them."""
    work = tmp_path_factory.mktemp("rules")
    out = work / "rules.json"
    result = subprocess.run([sys.executable, "-c", RULE_PROBE, str(REPO), str(work), str(out)],
                            capture_output=True, text=True, timeout=300, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


def _module_file(module: str) -> Path | None:
    """The file of an srgan module under src/, or None when ``module`` is not one."""
    parts = module.split(".")
    if parts[0] != "srgan":
        return None
    base = SRC.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def script_imports(script: Path) -> dict[str, list[str]]:
    """{top-level third-party module: the chain of files that imports it} of a script, through
    every srgan module it reaches (imports inside functions included: lazy ones are still needed
    by the job that calls them)."""
    found: dict[str, list[str]] = {}
    seen: set[Path] = set()
    queue = [(script, [script.relative_to(REPO).as_posix()])]
    while queue:
        path, chain = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1]) if path.is_relative_to(SRC) else ""
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "srgan":
                    target = _module_file(name)
                    if target is not None:
                        queue.append((target, [*chain, name]))
                elif top and top not in sys.stdlib_module_names and top not in ("__future__", "snakemake"):
                    found.setdefault(top, [*chain, top])
    return found


@functools.cache
def import_distributions() -> dict[str, str]:
    """{top-level module: PyPI distribution} of the installed packages."""
    return {module: canonicalize_name(dists[0])
            for module, dists in importlib.metadata.packages_distributions().items()}


def rule_needs(rule: dict) -> tuple[dict[str, tuple[str, list[str]]], list[str]]:
    """({distribution: (module, import chain)}, problems) of one rule's script."""
    if rule["script"] is None:
        return {}, []
    distributions, declared = import_distributions(), pyproject_dependencies()
    needs, problems = {}, []
    for module, chain in script_imports(Path(rule["script"])).items():
        dist = distributions.get(module)
        if dist is None:
            problems.append(f"rule {rule['name']}: {' -> '.join(chain)}: no installed distribution provides {module}")
        elif dist not in declared:
            problems.append(f"rule {rule['name']}: {' -> '.join(chain)}: {dist} is not in pyproject.toml's dependencies")
        else:
            needs[dist] = (module, chain)
    return needs, problems


# --------------------------------------------------------------------------------------------
# The checks: each returns a list of problems, so that the tests below can also show that they
# catch the bugs they are for.


def env_file_problems(envs: dict[str, dict]) -> list[str]:
    problems = []
    declared, pins = pyproject_dependencies(), makefile_pins()
    requires_python = SpecifierSet(pyproject()["project"]["requires-python"])
    snakemake_python = SpecifierSet(importlib.metadata.metadata("snakemake")["Requires-Python"] or "")
    for name, pin in pins.items():
        if name not in declared or not declared[name].contains(next(iter(pin)).version):
            problems.append(f"Makefile pins {name}{pin}, outside pyproject.toml's {name}{declared.get(name, '')}")
    for file, env in envs.items():
        packages, parse_problems = parse_env(env)
        problems += [f"{file} {problem}" for problem in parse_problems]
        python = packages.get("python")
        pinned = python and re.fullmatch(r"==(\d+\.\d+)\.\*", str(python[1]))
        if not pinned:
            problems.append(f"{file} does not pin python as python=X.Y")
        else:
            version = Version(pinned.group(1) + ".0")
            if version not in requires_python or version not in snakemake_python:
                problems.append(f"{file}: python {version} is outside pyproject.toml's requires-python "
                                f"{requires_python} or Snakemake's {snakemake_python} (the script preamble "
                                "imports the host's snakemake in the job's python)")
        if any(section == "pip" for section, _ in packages.values()) and "pip" not in packages:
            problems.append(f"{file} has a pip section but does not list pip")
        for name, (section, spec) in packages.items():
            if name in NOT_PACKAGES:
                continue
            if name in HOST_ONLY:
                problems.append(f"{file} lists {name}, which only the workflow's process needs ({HOST_ONLY[name]})")
                continue
            if name not in declared:
                problems.append(f"{file} lists {name}, which pyproject.toml does not declare")
                continue
            if name in PIP_ONLY and section != "pip":
                problems.append(f"{file} lists {name} for conda; it must come from pip (the Makefile's torch build)")
            want = expected_specifier(name)
            if spec != want:
                source = "the Makefile" if name in pins else "pyproject.toml"
                problems.append(f"{file}: {name}{spec or ' (no version)'} disagrees with {source}'s {name}{want}")
    covered = set().union(*(parse_env(env)[0] for env in envs.values())) if envs else set()
    for name in sorted(set(declared) - set(HOST_ONLY) - covered):
        problems.append(f"no env file provides {name} (pyproject.toml: {name}{declared[name]})")
    return problems


def rule_problems(envs: dict[str, dict], rules: list[dict]) -> list[str]:
    problems = []
    used: dict[str, list[dict]] = {}
    for rule in rules:
        if rule["norun"]:
            continue
        env = rule["env"]
        if env is None:
            problems.append(f"rule {rule['name']} has no conda env")
            continue
        path = Path(env)
        if path.parent != ENVS:
            problems.append(f"rule {rule['name']}: conda env {env} is not a file in envs/")
            continue
        if path.name not in envs:
            problems.append(f"rule {rule['name']}: conda env envs/{path.name} does not exist")
            continue
        used.setdefault(path.name, []).append(rule)
    for file in sorted(set(envs) - set(used)):
        problems.append(f"envs/{file} is used by no rule")
    for file, its_rules in sorted(used.items()):
        packages = parse_env(envs[file])[0]
        needed: set[str] = set()
        for rule in its_rules:
            needs, need_problems = rule_needs(rule)
            problems += need_problems
            needed |= set(needs)
            for dist, (module, chain) in sorted(needs.items()):
                if dist not in packages:
                    problems.append(f"rule {rule['name']} (envs/{file}): {' -> '.join(chain)}, but "
                                    f"envs/{file} does not list {dist}")
        for dist, carrier in INDIRECT.items():
            if carrier in packages and dist not in packages:
                problems.append(f"envs/{file} lists {carrier} but not {dist} (pyproject.toml's floor for it)")
            elif carrier in packages:
                needed.add(dist)
        for dist in sorted(set(packages) - NOT_PACKAGES - HOST_ONLY.keys() - needed):
            names = ", ".join(rule["name"] for rule in its_rules)
            problems.append(f"envs/{file} lists {dist}, which none of its rules ({names}) imports")
    return problems


# --------------------------------------------------------------------------------------------
# Tests


def test_env_files_agree_with_pyproject_and_the_makefile() -> None:
    envs = load_envs()
    assert envs, "no env files in envs/"
    problems = env_file_problems(envs)
    assert not problems, "\n".join(problems)


def test_each_rule_has_an_env_that_provides_what_its_script_imports(rules: list[dict]) -> None:
    assert {rule["name"] for rule in rules} >= {"prepare_dataset", "train_gan", "evaluate", "tables"}
    problems = rule_problems(load_envs(), rules)
    assert not problems, "\n".join(problems)


def _find(env: dict, predicate) -> tuple[list, int]:
    """(the list holding the first dependency entry that ``predicate`` accepts, its index)."""
    for entries in [env["dependencies"]] + [e["pip"] for e in env["dependencies"] if isinstance(e, dict)]:
        for index, entry in enumerate(entries):
            if isinstance(entry, str) and predicate(entry):
                return entries, index
    raise LookupError("no such entry")


def _replace(name, new=None):
    """A mutation of the env files: the entry for ``name`` replaced by ``new``, or dropped (None)."""
    def mutate(envs):
        for env in envs.values():
            try:
                entries, index = _find(env, lambda e: re.match(rf"{name}\b", e))
            except LookupError:
                continue
            if new is None:
                del entries[index]
            else:
                entries[index] = new
    return mutate


def _drop(name):
    return _replace(name, None)


def _add_pip(entry):
    def mutate(envs):
        env = next(env for env in envs.values() if any(isinstance(e, dict) for e in env["dependencies"]))
        next(e for e in env["dependencies"] if isinstance(e, dict))["pip"].append(entry)
    return mutate


def _torch_for_conda(envs):
    for env in envs.values():
        try:
            entries, index = _find(env, lambda e: e.startswith("torch=="))
        except LookupError:
            continue
        del entries[index]
        env["dependencies"].insert(0, "torch=2.14.1")


MUTATIONS = {
    "a dependency dropped (pandas)": _drop("pandas"),
    "a dependency dropped (tqdm)": _drop("tqdm"),
    "a lazily imported dependency dropped (torchmetrics)": _drop("torchmetrics"),
    "scipy dropped beside scikit-image": _drop("scipy"),
    "torch pinned otherwise than the Makefile": _replace("torch", "torch==2.13.0"),
    "torchvision unpinned": _replace("torchvision", "torchvision"),
    "a floor that disagrees with pyproject.toml": _replace("numpy", "numpy>=1.20"),
    "the package installed from a relative path": _add_pip("-e ../"),
    "a requirements file": _add_pip("-r requirements.txt"),
    "torch from conda": _torch_for_conda,
    "python unpinned": _replace("python", "python"),
    "snakemake inside a job env": _add_pip("snakemake>=9,<10"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_checks_catch(mutation: str, rules: list[dict]) -> None:
    envs = copy.deepcopy(load_envs())
    before = set(env_file_problems(envs) + rule_problems(envs, rules))
    MUTATIONS[mutation](envs)
    after = set(env_file_problems(envs) + rule_problems(envs, rules))
    assert after - before, f"{mutation} went unnoticed"


def test_an_unused_env_file_or_an_env_that_lists_too_much_is_caught(rules: list[dict]) -> None:
    envs = copy.deepcopy(load_envs())
    envs["spare.yaml"] = copy.deepcopy(next(iter(envs.values())))
    assert any("used by no rule" in p for p in rule_problems(envs, rules))
    envs = copy.deepcopy(load_envs())
    report = next(name for name, env in envs.items() if "matplotlib" in parse_env(env)[0])
    envs[report]["dependencies"].append("numba>=0.59")
    assert any("none of its rules" in p for p in rule_problems(envs, rules))


# --------------------------------------------------------------------------------------------
# With conda: create the envs the way Snakemake does, and run one rule in one


def _conda_tools() -> dict[str, str]:
    return {tool: path for tool in ("conda", "mamba", "micromamba") if (path := shutil.which(tool))}


def _copy_checkout(target: Path) -> Path:
    """The files the workflow runs from, copied elsewhere: the envs, src/ and the rules must not
    depend on where the checkout is."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".snakemake")
    target.mkdir(parents=True)
    for name in ("Snakefile", "config.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, target / name)
    for name in ("workflow", "envs", "src"):
        shutil.copytree(REPO / name, target / name, ignore=ignore)
    return target


def _env_imports(rules: list[dict]) -> dict[str, set[str]]:
    """{env file name: the top-level modules its rules' scripts import}."""
    imports: dict[str, set[str]] = {}
    for rule in rules:
        if rule["env"] and rule["script"]:
            needs, _ = rule_needs(rule)
            imports.setdefault(Path(rule["env"]).name, set()).update(module for module, _ in needs.values())
    return imports


@pytest.fixture(scope="module")
def conda_checkout(tmp_path_factory) -> dict:
    tools = _conda_tools()
    if not tools:
        pytest.skip("no conda/mamba on PATH: conda, mamba and micromamba were not found, so the "
                    "envs cannot be created (the static tests above still check every env file)")
    root = tmp_path_factory.mktemp("conda")
    return {"tools": tools, "repo": _copy_checkout(root / "checkout"), "prefix": root / "envs"}


def _run_workflow(checkout: Path, prefix: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [*snakemake_command(), "--snakefile", str(checkout / "Snakefile"), "--directory", str(checkout),
               "--sdm", "conda", "--conda-prefix", str(prefix), "--cores", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=checkout)


@pytest.mark.slow
def test_each_env_creates_and_imports_what_its_rules_need(conda_checkout: dict, rules: list[dict]) -> None:
    tools, checkout, prefix = conda_checkout["tools"], conda_checkout["repo"], conda_checkout["prefix"]
    created: dict[str, Path] = {}
    if "conda" in tools:
        # Snakemake's own way: copies under --conda-prefix (outside the checkout), then conda env create.
        result = _run_workflow(checkout, prefix, "--conda-create-envs-only", timeout=5400)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
        for copy_file in prefix.glob("*.yaml"):
            match = [name for name, _ in load_envs().items() if (ENVS / name).read_bytes() == copy_file.read_bytes()]
            if match:
                created[match[0]] = copy_file.with_suffix("")
    else:
        # Snakemake 9 calls `conda` itself (snakemake/deployment/conda.py); with only mamba or
        # micromamba, create each env from a copy in another folder, as Snakemake would.
        tool = tools.get("micromamba") or tools["mamba"]
        for name in load_envs():
            staged = prefix / "staged" / f"{name}"
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ENVS / name, staged)
            target = prefix / Path(name).stem
            result = subprocess.run([tool, "create", "--yes", "--quiet", "--file", str(staged), "--prefix", str(target)],
                                    capture_output=True, text=True, timeout=5400)
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
            created[name] = target
    assert set(created) == set(load_envs()), f"created {sorted(created)}"
    pins = makefile_pins()
    for name, modules in _env_imports(rules).items():
        python = created[name] / "bin" / "python"
        code = "; ".join(f"import {module}" for module in sorted(modules))
        if "torch" in modules:
            torch_version = next(iter(pins["torch"])).version
            code += f"; assert torch.__version__.split('+')[0] == {torch_version!r}, torch.__version__"
        # -I: the env's own packages only (no PYTHONPATH, no user site, not the host's)
        result = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{name}: {code}\n{result.stderr[-4000:]}"


@pytest.mark.slow
def test_prepare_dataset_runs_with_sdm_conda(conda_checkout: dict) -> None:
    if "conda" not in conda_checkout["tools"]:
        pytest.skip(f"only {sorted(conda_checkout['tools'])} on PATH: Snakemake 9 runs `conda` itself "
                    "(snakemake/deployment/conda.py), so --sdm conda needs conda")
    checkout, prefix = conda_checkout["repo"], conda_checkout["prefix"]
    config = yaml.safe_load((checkout / "config.yaml").read_text())
    dataset = config["test_sets"][0]
    spec = config["datasets"][dataset]
    assert spec["source"] == "skimage", "the default config's first test set is no longer offline"
    target = f"resources/datasets/{dataset}/MANIFEST.tsv"
    result = _run_workflow(checkout, prefix, target, timeout=5400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "Activating conda environment" in output, output[-4000:]
    written = sorted(path.stem for path in (checkout / "resources" / "datasets" / dataset / "HR").glob("*.png"))
    assert written == sorted(spec["images"])
    assert (checkout / target).is_file()
