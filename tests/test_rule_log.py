"""A rule's log holds everything its script prints: logging, stderr, stdout (torch hub prints its
downloads there), C-level writes and child processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_the_log_captures_stdout_stderr_and_child_processes(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "job.log"
    script = textwrap.dedent(f"""
        import logging, os, subprocess, sys, warnings
        from srgan.io import start_rule
        start_rule({str(log)!r}, [])
        print("a print to stdout")
        sys.stderr.write("a write to stderr\\n")
        logging.getLogger("srgan.test").info("a log line")
        warnings.warn("a warning")
        os.write(1, b"a C-level write to fd 1\\n")
        subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    for line in ("a print to stdout", "a write to stderr", "INFO srgan.test: a log line", "a warning",
                 "a C-level write to fd 1", "a child process"):
        assert line in text, line
    assert result.stdout == "" and result.stderr == ""  # nothing escapes the log
