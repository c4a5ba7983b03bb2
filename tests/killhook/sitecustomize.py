"""Test hook for the pipeline-level kill test (tests/test_workflow.py), never used otherwise.

With SRGAN_TEST_KILL="module:function:N:marker" in the environment, the N-th call of
``module.function`` in a process SIGKILLs that process's whole process group (Snakemake and its
jobs, as ``kill -9`` of the run would) and creates ``marker``, so that it happens once per test.
Python imports this file at start-up when tests/killhook is on PYTHONPATH; it patches the
function only when its module is imported, so Snakemake itself is not slowed down.

With SRGAN_TEST_KILL_WILDCARDS="name=value,..." as well, only calls inside a Snakemake job whose
wildcards match count, so that which job dies does not depend on how the scheduler ordered
jobs that may run side by side (the script directive gives the job's ``snakemake`` object to
``__main__``).
"""

import importlib.abc
import importlib.util
import os
import signal
import sys

SPEC = os.environ.get("SRGAN_TEST_KILL")
WILDCARDS = os.environ.get("SRGAN_TEST_KILL_WILDCARDS", "")


def _in_chosen_job() -> bool:
    if not WILDCARDS:
        return True
    wildcards = getattr(getattr(sys.modules.get("__main__"), "snakemake", None), "wildcards", None)
    wanted = dict(item.split("=", 1) for item in WILDCARDS.split(","))
    return all(getattr(wildcards, name, None) == value for name, value in wanted.items())


def _wrap(module) -> None:
    _, name, at, marker = SPEC.split(":", 3)
    real, calls = getattr(module, name), [0]

    def wrapper(*args, **kwargs):
        if not _in_chosen_job():
            return real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == int(at) and not os.path.exists(marker):
            open(marker, "w").close()
            os.killpg(os.getpgid(0), signal.SIGKILL)
        return real(*args, **kwargs)

    setattr(module, name, wrapper)


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != SPEC.split(":", 1)[0]:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            _wrap(module)

        spec.loader.exec_module = exec_and_wrap
        return spec


if SPEC:
    sys.meta_path.insert(0, _Hook())
