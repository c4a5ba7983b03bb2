"""RELIABILITY.md stays true: every test it cites exists, and its tally adds up."""

from __future__ import annotations

import re

from conftest import REPO

TEXT = (REPO / "RELIABILITY.md").read_text()


def test_every_cited_test_exists() -> None:
    cited = set(re.findall(r"`(test_\w+\.py)::(test_\w+)", TEXT))
    assert len(cited) >= 40
    missing = [f"{file}::{name}" for file, name in sorted(cited)
               if not re.search(rf"^def {name}\(", (REPO / "tests" / file).read_text(), re.MULTILINE)]
    assert not missing, missing


def test_rows_are_numbered_and_the_tally_counts_them() -> None:
    rows = [int(n) for n in re.findall(r"^\| (\d+) \|", TEXT, re.MULTILINE)]
    assert rows == list(range(1, len(rows) + 1)) and len(rows) >= 40
    tried = int(re.search(r"\*\*Tried:\*\* (\d+)", TEXT)[1])
    errors = int(re.search(r"\*\*A clear error naming the key, file or entry:\*\* (\d+)", TEXT)[1])
    handled = int(re.search(r"\*\*Handled without an error.*?:\*\* (\d+)", TEXT)[1])
    assert tried == len(rows) == errors + handled
    assert re.search(rf"\*\*Lost nothing:\*\* all {tried}\b", TEXT)
    lost = [row for row in TEXT.splitlines() if re.match(r"^\| \d+ \|", row)
            and not row.rstrip(" |").rsplit("|", 1)[1].strip().startswith("yes")]
    assert not lost, lost
