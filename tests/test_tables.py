"""Result tables: layout, numbers taken from the metrics CSVs, and the notes under them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from srgan import metrics
from srgan.evaluate import write_metrics_csv
from srgan.tables import (CONFIG_HEADER, METHOD_LABELS, PAPER_SSIM_NOTE, bicubic_comparison,
                          bicubic_markdown, content_weights, lpips_unavailable_reason, method_set_csvs,
                          paper_comparison, paper_markdown, published_comparable, read_mean, results_table,
                          table_notes, to_html, to_latex, to_markdown, write_bicubic_table,
                          write_config_record, write_results_tables, write_table)


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


# --- the tables of the rules, from the files the pipeline writes ------------------------------------

PER_IMAGE = {  # (method, test set): per-image PSNR, SSIM, LPIPS; every mean is a distinct number
    ("bicubic", "Set5"): ([27.0, 28.0], [0.80, 0.82], [0.40, 0.44]),
    ("bicubic", "mine"): ([22.0], [0.60], [0.50]),
    ("srresnet", "Set5"): ([30.0, 31.0], [0.88, 0.90], [0.30, 0.32]),
    ("srresnet", "mine"): ([24.0], [0.70], [0.35]),
    ("srgan", "Set5"): ([29.0, 29.5], [0.84, 0.85], [0.10, 0.14]),
    ("srgan", "mine"): ([23.0], [0.65], [0.12]),
}


def _status(tmp_path: Path, reason: str | None) -> Path:
    path = tmp_path / "lpips_network.json"
    status = {"available": False, "reason": reason} if reason else {"available": True, "source": "x"}
    path.write_text(json.dumps(status))
    return path


def _content(tmp_path: Path, weights: str) -> Path:
    path = tmp_path / "content_network.json"
    path.write_text(json.dumps({"content": "vgg", "layer": "block5_conv4", "weights": weights}))
    return path


def _rule_tables(tmp_path: Path, *, protocol: str = "standard", scale: int = 4, weights: str = "imagenet",
                 reason: str | None = None, test_sets: tuple[str, ...] = ("Set5", "mine")) -> dict[str, Path]:
    """write_results_tables as rule tables calls it: every test set of bicubic, then of SRResNet,
    then of SRGAN."""
    csvs = [_metrics(tmp_path, f"{method}-{name}", *PER_IMAGE[(method, name)])
            for method in ("bicubic", "srresnet", "srgan") for name in test_sets]
    out = {kind: tmp_path / f"results.{kind}" for kind in ("csv", "md", "tex", "html")}
    write_results_tables(csvs, methods=["bicubic", "srresnet", "srgan"], test_sets=list(test_sets),
                         content_network=_content(tmp_path, weights), lpips_status=_status(tmp_path, reason),
                         protocol=protocol, scale=scale, smoke_scale=False, experiment="exp1",
                         csv_out=out["csv"], markdown_out=out["md"], latex_out=out["tex"],
                         html_out=out["html"])
    return out


def test_every_cell_of_the_results_table_is_the_mean_of_its_per_image_csv(tmp_path: Path) -> None:
    out = _rule_tables(tmp_path)
    table = pd.read_csv(out["csv"]).set_index("method")
    assert list(table.index) == ["Bicubic", "SRResNet", "SRGAN"]
    for (method, name), values in PER_IMAGE.items():
        for metric, column in zip(("psnr", "ssim", "lpips"), values):
            assert table.loc[METHOD_LABELS[method], f"{name}_{metric}"] == pytest.approx(np.mean(column)), \
                (method, name, metric)
    markdown = out["md"].read_text()
    assert "| SRResNet | **30.50** / **0.8900** / 0.3100 | **24.00** / **0.7000** / 0.3500 |" in markdown
    assert "| SRGAN | 29.25 / 0.8450 / **0.1200** | 23.00 / 0.6500 / **0.1200** |" in markdown
    latex = out["tex"].read_text()
    assert r"\caption{x4 super-resolution, protocol standard}" in latex
    assert r"mine PSNR & 22.00 & 24.00 & 23.00 \\" in latex
    page = out["html"].read_text()
    assert "<title>Results of experiment exp1</title>" in page
    assert "<td>SRResNet</td><td><b>30.50</b> / <b>0.8900</b> / 0.3100</td>" in page


def test_the_results_notes_say_what_the_records_say_in_every_format(tmp_path: Path) -> None:
    reason = "AlexNet ImageNet weights unavailable (offline)"
    out = _rule_tables(tmp_path, weights="random-fallback", reason=reason)
    for kind in ("md", "tex", "html"):
        text = out[kind].read_text()
        assert "RANDOM VGG19 weights" in text and "LPIPS is n/a" in text and reason in text, kind
        assert "4 px border cropped" in text, kind
    (tmp_path / "clean").mkdir()
    clean = _rule_tables(tmp_path / "clean")
    for kind in ("md", "tex", "html"):
        text = clean[kind].read_text()
        assert "RANDOM" not in text and "n/a" not in text and "LPIPS: AlexNet, version 0.1" in text, kind


def test_the_papers_table_2_is_beside_ours_only_when_measured_as_the_paper(tmp_path: Path) -> None:
    markdown = _rule_tables(tmp_path)["md"].read_text()
    assert "### Ledig et al. 2017, Table 2, and our difference" in markdown and PAPER_SSIM_NOTE in markdown
    section = markdown.split("### Ledig et al. 2017")[1]
    # Ours (the CSVs' means), the paper's Table 2, and ours minus the paper's; Set5 only (mine is
    # not one of the paper's test sets).
    assert "| Bicubic | Set5 | 27.50 / 0.8100 | 28.43 / 0.8211 | -0.93 / -0.0111 |" in section
    assert "| SRResNet | Set5 | 30.50 / 0.8900 | 32.05 / 0.9019 | -1.55 / -0.0119 |" in section
    assert "| SRGAN | Set5 | 29.25 / 0.8450 | 29.40 / 0.8472 | -0.15 / -0.0022 |" in section
    assert "mine" not in section
    for kwargs in ({"protocol": "report"}, {"scale": 2}, {"test_sets": ("mine",)}):
        folder = tmp_path / "-".join(map(str, kwargs.values()))
        folder.mkdir()
        assert "Table 2" not in _rule_tables(folder, **kwargs)["md"].read_text(), kwargs


def test_paper_comparison_knows_the_papers_test_sets_by_their_aliases(tmp_path: Path) -> None:
    csvs = {("srgan", "bsd100"): _metrics(tmp_path, "g", [25.0, 26.0], [0.60, 0.70])}
    comparison = paper_comparison(results_table(csvs, ["bsd100"]), ["bsd100"])
    assert comparison.to_dict("records") == [pytest.approx({
        "method": "SRGAN", "test_set": "bsd100", "psnr": 25.5, "ssim": 0.65, "paper_psnr": 25.16,
        "paper_ssim": 0.6688, "diff_psnr": 25.5 - 25.16, "diff_ssim": 0.65 - 0.6688})]
    assert paper_markdown(comparison).splitlines()[-1] == \
        "| SRGAN | bsd100 | 25.50 / 0.6500 | 25.16 / 0.6688 | +0.34 / -0.0188 |"


def test_the_metrics_csvs_of_rule_tables_are_keyed_method_first(tmp_path: Path) -> None:
    paths = [Path(f"{k}.csv") for k in range(6)]
    assert method_set_csvs(paths, ["bicubic", "srresnet", "srgan"], ["A", "B"]) == {
        ("bicubic", "A"): paths[0], ("bicubic", "B"): paths[1], ("srresnet", "A"): paths[2],
        ("srresnet", "B"): paths[3], ("srgan", "A"): paths[4], ("srgan", "B"): paths[5]}
    with pytest.raises(ValueError, match="5 metrics files for 3 methods x 2 test sets; expected 6"):
        method_set_csvs(paths[:5], ["bicubic", "srresnet", "srgan"], ["A", "B"])


def test_bicubic_table_holds_our_means_beside_the_published_ones(tmp_path: Path) -> None:
    sets = {"Set14": ([26.0, 27.0], [0.70, 0.72]), "bsd100": ([25.0], [0.66]), "mine": ([30.0], [0.9])}
    csvs = [_metrics(tmp_path, name, psnr, ssim) for name, (psnr, ssim) in sets.items()]
    csv_out, md_out = tmp_path / "bicubic.csv", tmp_path / "bicubic.md"
    write_bicubic_table(csvs, test_sets=list(sets), protocol="standard", scale=4, round_y=True,
                        csv_out=csv_out, markdown_out=md_out)
    table = pd.read_csv(csv_out).set_index("test_set")
    assert list(table.index) == ["Set14", "bsd100", "mine"]
    assert table.loc["Set14", ["psnr", "ssim"]].tolist() == pytest.approx([26.5, 0.71])
    assert table.loc["Set14", ["published_psnr", "published_ssim"]].tolist() == pytest.approx([26.00, 0.7027])
    assert table.loc["bsd100", ["diff_psnr", "diff_ssim"]].tolist() == pytest.approx([25.0 - 25.96, 0.66 - 0.6675])
    assert table.loc["mine", ["published_psnr", "diff_psnr"]].isna().all()  # no published number
    markdown = md_out.read_text()
    assert "| Set14 | 26.500 / 0.7100 | 26.00 / 0.7027 | +0.500 / +0.0073 |" in markdown
    assert "| mine | 30.000 / 0.9000 | - | - |" in markdown
    assert "Protocol `standard`: PSNR (dB) / SSIM on the Y channel (BT.601), 4 px border" in markdown
    assert "not shown" not in markdown


@pytest.mark.parametrize("protocol, scale, round_y", [("report", 4, True), ("standard", 2, True),
                                                      ("standard", 4, False)])
def test_bicubic_table_hides_the_published_numbers_when_measured_otherwise(tmp_path: Path, protocol: str,
                                                                           scale: int, round_y: bool) -> None:
    assert published_comparable(protocol=protocol, scale=scale, round_y=round_y) is False
    csv_out, md_out = tmp_path / "bicubic.csv", tmp_path / "bicubic.md"
    write_bicubic_table([_metrics(tmp_path, "set5", [28.0], [0.8])], test_sets=["Set5"], protocol=protocol,
                        scale=scale, round_y=round_y, csv_out=csv_out, markdown_out=md_out)
    assert pd.read_csv(csv_out)[["published_psnr", "published_ssim"]].isna().all(axis=None)
    markdown = md_out.read_text()
    assert "| Set5 | 28.000 / 0.8000 | - | - |" in markdown and "so they are not shown" in markdown
    assert f"Protocol `{protocol}`" in markdown
    assert published_comparable(protocol="standard", scale=4, round_y=True) is True


def test_notes_name_the_border_of_the_scale_and_only_the_caveats_that_apply() -> None:
    notes = table_notes(protocol="standard", scale=3, content_weights="imagenet", smoke_scale=False)
    assert notes == [
        "Protocol `standard`: PSNR (dB) / SSIM on the Y channel (BT.601), 3 px border cropped, "
        "Gaussian SSIM (11x11, sigma 1.5).",
        "LPIPS: AlexNet, version 0.1 (Zhang et al. 2018), lower is better, 3 px border cropped."]
    report = table_notes(protocol="report", scale=3, content_weights="random-fallback", smoke_scale=True,
                         lpips_unavailable="no weights")
    assert len(report) == 4 and "no border crop" in report[0]
    assert report[1].startswith("**LPIPS is n/a**: no weights.")
    assert report[2].startswith("**WARNING: the SRGAN content loss used RANDOM VGG19 weights**")
    assert report[3].startswith("Smoke-scale run")


def test_html_escapes_names_and_notes_and_keeps_their_marks(tmp_path: Path) -> None:
    csvs = {("bicubic", "a<b"): _metrics(tmp_path, "b", [20.0], [0.5]),
            ("srgan", "a<b"): _metrics(tmp_path, "g", [21.0], [0.4])}
    table = results_table(csvs, ["a<b"])
    page = to_html(table, ["a<b"], ["**bold** `code` & <tag>"], title="t & <t>")
    assert "<th>a&lt;b<br>PSNR / SSIM / LPIPS</th>" in page and "<title>t &amp; &lt;t&gt;</title>" in page
    assert "<li><b>bold</b> <code>code</code> &amp; &lt;tag&gt;</li>" in page
    assert "<td>Bicubic</td><td>20.00 / <b>0.5000</b> / n/a</td>" in page
    assert "<td>SRGAN</td><td><b>21.00</b> / 0.4000 / n/a</td>" in page


def test_latex_escapes_underscores_and_has_one_column_per_method(tmp_path: Path) -> None:
    csvs = {(method, "DIV2K_valid"): _metrics(tmp_path, method, [20.0 + k], [0.5])
            for k, method in enumerate(("bicubic", "srgan"))}
    latex = to_latex(results_table(csvs, ["DIV2K_valid"]), ["DIV2K_valid"], "x4 on DIV2K_valid")
    assert r"\begin{tabular}{lcc}" in latex and r"\caption{x4 on DIV2K\_valid}" in latex
    assert r"Set & Bicubic & SRGAN \\" in latex and r"DIV2K\_valid PSNR & 20.00 & 21.00 \\" in latex


def test_the_config_record_is_the_config_as_yaml_and_a_report_page(tmp_path: Path) -> None:
    config = {"scale": 4, "gan": {"vgg_layer": "block5_conv4", "content": "vgg"}, "test_sets": ["Set5"],
              "experiment": "a<b"}
    text = write_config_record(config, experiment="a<b", yaml_out=tmp_path / "config.yaml",
                               html_out=tmp_path / "config.html")
    assert (tmp_path / "config.yaml").read_text() == text and text.startswith(CONFIG_HEADER)
    assert yaml.safe_load(text) == config
    page = (tmp_path / "config.html").read_text()
    assert "<title>Config of experiment a&lt;b</title>" in page
    assert "  vgg_layer: block5_conv4" in page and "experiment: a&lt;b" in page
    assert "# The resolved config of this experiment (defaults filled in)" in page  # the file, header too


def test_the_notes_read_the_lpips_and_content_records(tmp_path: Path) -> None:
    assert lpips_unavailable_reason(_status(tmp_path, "offline")) == "offline"
    assert lpips_unavailable_reason(_status(tmp_path, None)) is None
    assert content_weights(_content(tmp_path, "random-fallback")) == "random-fallback"
