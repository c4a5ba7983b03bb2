"""Result tables: layout, numbers taken from the metrics CSVs, and the notes under them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srgan import metrics
from srgan.evaluate import write_metrics_csv
from srgan.tables import (bicubic_comparison, bicubic_markdown, paper_comparison, paper_markdown,
                          read_mean, results_table, table_notes, to_latex, to_markdown, write_table)


def _metrics(tmp_path: Path, name: str, psnr: list[float], ssim: list[float],
             lpips: list[float] | None = None) -> Path:
    path = tmp_path / f"{name}.csv"
    write_metrics_csv(pd.DataFrame({"image": [f"i{k}" for k in range(len(psnr))], "psnr": psnr,
                                    "ssim": ssim, "lpips": lpips or [math.nan] * len(psnr)}), path)
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
    assert list(table.columns) == ["method", "A_psnr", "A_ssim", "A_lpips", "B_psnr", "B_ssim", "B_lpips"]
    assert table.loc[0, "A_psnr"] == pytest.approx(21) and table.loc[1, "A_ssim"] == pytest.approx(0.7)
    assert read_mean(csvs[("srgan", "B")]) == (pytest.approx(24), pytest.approx(0.79))

    notes = table_notes(protocol="standard", scale=4, content_weights="random-fallback", smoke_scale=True)
    markdown = to_markdown(table, ["A", "B"], notes)
    assert "| Method | A PSNR / SSIM / LPIPS | B PSNR / SSIM / LPIPS |" in markdown
    assert "| SRResNet | **23.00** / **0.7000** / n/a | **26.00** / **0.8100** / n/a |" in markdown
    assert "RANDOM VGG19 weights" in markdown and "Smoke-scale" in markdown and "Y channel" in markdown

    write_table(table, markdown, csv_path=tmp_path / "t.csv", markdown_path=tmp_path / "t.md")
    assert pd.read_csv(tmp_path / "t.csv")["B_ssim"].tolist() == pytest.approx([0.8, 0.81, 0.79])
    assert (tmp_path / "t.md").read_text() == markdown


def test_notes_without_caveats() -> None:
    notes = table_notes(protocol="report", scale=4, content_weights="imagenet", smoke_scale=False)
    assert len(notes) == 2 and "RGB" in notes[0] and notes[1].startswith("LPIPS: AlexNet, version 0.1")


def test_lpips_is_a_column_lowest_in_bold_or_na_with_the_reason_in_every_format(tmp_path: Path) -> None:
    csvs = {("bicubic", "A"): _metrics(tmp_path, "ba", [20, 22], [0.5, 0.7], [0.40, 0.50]),
            ("srresnet", "A"): _metrics(tmp_path, "ra", [23, 23], [0.75, 0.65], [0.30, 0.30]),
            ("srgan", "A"): _metrics(tmp_path, "ga", [21, 21], [0.6, 0.6], [0.10, 0.20])}
    table = results_table(csvs, ["A"])
    assert table["A_lpips"].tolist() == pytest.approx([0.45, 0.30, 0.15])
    notes = table_notes(protocol="standard", scale=4, content_weights="imagenet", smoke_scale=False)
    markdown = to_markdown(table, ["A"], notes)
    assert "| SRGAN | 21.00 / 0.6000 / **0.1500** |" in markdown and "| Bicubic | 21.00 / 0.6000 / 0.4500 |" in markdown
    assert "LPIPS: AlexNet, version 0.1" in markdown and "lower is better" in markdown
    latex = to_latex(table, ["A"], "x4", notes)
    assert r"A LPIPS & 0.4500 & 0.3000 & 0.1500 \\" in latex and "lower is better" in latex
    # Unavailable: n/a in every cell, and the reason under the Markdown and the LaTeX tables alike.
    na = {key: _metrics(tmp_path, f"n{key[0]}", [20], [0.5]) for key in csvs}
    table = results_table(na, ["A"])
    reason = "AlexNet ImageNet weights unavailable (URLError: <urlopen error [Errno -2]> 100% & more)"
    notes = table_notes(protocol="standard", scale=4, content_weights="imagenet", smoke_scale=False,
                        lpips_unavailable=reason)
    markdown, latex = to_markdown(table, ["A"], notes), to_latex(table, ["A"], "x4", notes)
    assert markdown.count(" / n/a |") == 3 and f"**LPIPS is n/a**: {reason}" in markdown
    assert r"A LPIPS & n/a & n/a & n/a \\" in latex
    assert r"LPIPS is n/a: AlexNet ImageNet weights unavailable (URLError: \textless{}urlopen error " \
           r"[Errno -2]\textgreater{} 100\% \& more)" in latex


def test_mean_row_required(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    pd.DataFrame({"image": ["a"], "psnr": [1.0], "ssim": [0.1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no single 'mean' row"):
        read_mean(path)


def test_identical_sr_and_hr_give_inf_psnr_in_every_output(tmp_path: Path) -> None:
    # SR == HR has MSE 0, so metrics.psnr gives inf; one such image makes the set's mean PSNR inf
    # too (the mean of inf and finite values is inf), and every table must say so legibly.
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(np.int64) + rng.integers(-20, 21, size=hr.shape), 0, 255).astype(np.uint8)
    same, off = metrics.psnr(hr.copy(), hr), metrics.psnr(sr, hr)
    assert same == math.inf and math.isfinite(off)
    one_same = _metrics(tmp_path, "ra", [same, off], [1.0, metrics.ssim(sr, hr)])
    assert "mean,inf," in one_same.read_text()
    assert read_mean(one_same) == (math.inf, pytest.approx((1 + metrics.ssim(sr, hr)) / 2))

    csvs = {("bicubic", "Set5"): _metrics(tmp_path, "b", [off], [0.5]),
            ("srresnet", "Set5"): one_same,
            ("srgan", "Set5"): _metrics(tmp_path, "g", [same, same], [1.0, 1.0])}
    table = results_table(csvs, ["Set5"])
    assert table["Set5_psnr"].tolist() == [pytest.approx(off, abs=1e-6), math.inf, math.inf]

    markdown = to_markdown(table, ["Set5"], ["note"])
    assert "| SRResNet | **inf** / " in markdown and "| SRGAN | **inf** / **1.0000** / n/a |" in markdown
    write_table(table, markdown, csv_path=tmp_path / "t.csv", markdown_path=tmp_path / "t.md")
    assert ",inf," in (tmp_path / "t.csv").read_text()
    assert pd.read_csv(tmp_path / "t.csv")["Set5_psnr"].tolist() == [pytest.approx(off, abs=1e-6),
                                                                      math.inf, math.inf]

    latex = to_latex(table, ["Set5"], "caption")
    assert rf"Set5 PSNR & {off:.2f} & $\infty$ & $\infty$ \\" in latex
    assert "inf" not in latex.replace(r"$\infty$", "")

    comparison = paper_markdown(paper_comparison(table, ["Set5"]))
    assert "| SRGAN | Set5 | inf / 1.0000 | 29.40 / 0.8472 | +inf / +0.1528 |" in comparison
    bicubic = bicubic_markdown(bicubic_comparison({"Set5": (math.inf, 1.0)}, comparable=True), [])
    assert "| Set5 | inf / 1.0000 | 28.42 / 0.8104 | +inf / +0.1896 |" in bicubic
    for text in (markdown, (tmp_path / "t.csv").read_text(), latex, comparison, bicubic):
        assert "nan" not in text.lower()
