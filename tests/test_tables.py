"""Result tables: layout, numbers taken from the metrics CSVs, and the notes under them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srgan.evaluate import write_metrics_csv
from srgan.tables import read_mean, results_table, table_notes, to_markdown, write_table


def _metrics(tmp_path: Path, name: str, psnr: list[float], ssim: list[float]) -> Path:
    path = tmp_path / f"{name}.csv"
    write_metrics_csv(pd.DataFrame({"image": [f"i{k}" for k in range(len(psnr))], "psnr": psnr,
                                    "ssim": ssim}), path)
    return path


def test_table_layout_and_values(tmp_path: Path) -> None:
    csvs = {("bicubic", "A"): _metrics(tmp_path, "ba", [20, 22], [0.5, 0.7]),
            ("bicubic", "B"): _metrics(tmp_path, "bb", [25], [0.8]),
            ("srresnet", "A"): _metrics(tmp_path, "ra", [23, 23], [0.75, 0.65]),
            ("srresnet", "B"): _metrics(tmp_path, "rb", [26], [0.81]),
            ("srgan", "A"): _metrics(tmp_path, "ga", [21, 21], [0.6, 0.6]),
            ("srgan", "B"): _metrics(tmp_path, "gb", [24], [0.79])}
    table = results_table(csvs, ["A", "B"])
    assert list(table["method"]) == ["Bicubic", "SRResNet", "SRGAN"]
    assert list(table.columns) == ["method", "A_psnr", "A_ssim", "B_psnr", "B_ssim"]
    assert table.loc[0, "A_psnr"] == pytest.approx(21) and table.loc[1, "A_ssim"] == pytest.approx(0.7)
    assert read_mean(csvs[("srgan", "B")]) == (pytest.approx(24), pytest.approx(0.79))

    notes = table_notes(protocol="standard", scale=4, content_weights="random-fallback", smoke_scale=True)
    markdown = to_markdown(table, ["A", "B"], notes)
    assert "| Method | A | B |" in markdown
    assert "| SRResNet | **23.00** / **0.7000** | **26.00** / **0.8100** |" in markdown
    assert "RANDOM VGG19 weights" in markdown and "Smoke-scale" in markdown and "Y channel" in markdown

    write_table(table, markdown, csv_path=tmp_path / "t.csv", markdown_path=tmp_path / "t.md")
    assert pd.read_csv(tmp_path / "t.csv")["B_ssim"].tolist() == pytest.approx([0.8, 0.81, 0.79])
    assert (tmp_path / "t.md").read_text() == markdown


def test_notes_without_caveats() -> None:
    notes = table_notes(protocol="report", scale=4, content_weights="imagenet", smoke_scale=False)
    assert len(notes) == 1 and "RGB" in notes[0]


def test_mean_row_required(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    pd.DataFrame({"image": ["a"], "psnr": [1.0], "ssim": [0.1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no single 'mean' row"):
        read_mean(path)
