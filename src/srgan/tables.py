"""Result tables in the layout of the paper's Table 2: rows bicubic / SRResNet / SRGAN, columns the
test sets, PSNR and SSIM; written as CSV and Markdown with the protocol and caveats stated."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

from srgan.io import atomic_path, write_text

METHOD_LABELS = {"bicubic": "Bicubic", "srresnet": "SRResNet", "srgan": "SRGAN"}

PROTOCOL_NOTES = {
    "standard": "PSNR (dB) / SSIM on the Y channel (BT.601), {scale} px border cropped, "
                "Gaussian SSIM (11x11, sigma 1.5).",
    "report": "PSNR (dB) on RGB and SSIM as the mean of the R, G, B SSIMs (the student report's protocol), "
              "no border crop.",
}


def read_mean_row(metrics_csv: Path) -> dict[str, float]:
    """The ``mean`` row of a per-image metrics CSV written by srgan.evaluate, as
    ``{"psnr", "ssim", "lpips"}``, read once. LPIPS is NaN when it was unavailable (or the CSV
    predates it); the mean PSNR is ``inf`` when any image's SR equals its HR."""
    frame = pd.read_csv(metrics_csv)
    mean = frame[frame["image"] == "mean"]
    if len(mean) != 1:
        raise ValueError(f"{metrics_csv} has no single 'mean' row")
    return {"psnr": float(mean["psnr"].iloc[0]), "ssim": float(mean["ssim"].iloc[0]),
            "lpips": float(mean["lpips"].iloc[0]) if "lpips" in frame.columns else math.nan}


def read_mean(metrics_csv: Path) -> tuple[float, float]:
    """The ``mean`` row's (PSNR, SSIM) of a per-image metrics CSV (see :func:`read_mean_row`)."""
    row = read_mean_row(metrics_csv)
    return row["psnr"], row["ssim"]


def results_table(metrics_csvs: Mapping[tuple[str, str], Path], test_sets: Sequence[str]) -> pd.DataFrame:
    """Wide table: one row per method, ``<set>_psnr``, ``<set>_ssim`` and ``<set>_lpips``
    columns per test set (LPIPS NaN where it could not be computed)."""
    rows = []
    for method in METHOD_LABELS:
        if not any(key[0] == method for key in metrics_csvs):
            continue
        rows.append({"method": METHOD_LABELS[method],
                     **_mean_cells({s: metrics_csvs[(method, s)] for s in test_sets}, test_sets)})
    return pd.DataFrame(rows)


def _lpips_text(value: float, best: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"**{value:.4f}**" if value == best else f"{value:.4f}"


def table_cells(table: pd.DataFrame, test_sets: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(method, one ``PSNR / SSIM / LPIPS`` cell per test set) for each row, the best value of
    each in Markdown bold (the highest PSNR and SSIM, the lowest LPIPS); an LPIPS that could not
    be computed reads "n/a" (the notes say why)."""
    best = {s: (table[f"{s}_psnr"].max(), table[f"{s}_ssim"].max(), table[f"{s}_lpips"].min())
            for s in test_sets}
    rows = []
    for _, row in table.iterrows():
        cells = []
        for s in test_sets:
            psnr, ssim = row[f"{s}_psnr"], row[f"{s}_ssim"]
            psnr_text = f"**{psnr:.2f}**" if psnr == best[s][0] else f"{psnr:.2f}"
            ssim_text = f"**{ssim:.4f}**" if ssim == best[s][1] else f"{ssim:.4f}"
            cells.append(f"{psnr_text} / {ssim_text} / {_lpips_text(row[f'{s}_lpips'], best[s][2])}")
        rows.append((row["method"], cells))
    return rows


def to_markdown(table: pd.DataFrame, test_sets: Sequence[str], notes: Sequence[str]) -> str:
    """GitHub Markdown of :func:`table_cells`, with the notes under it."""
    header = "| Method | " + " | ".join(f"{s} PSNR / SSIM / LPIPS" for s in test_sets) + " |"
    lines = [header, "|---" * (len(test_sets) + 1) + "|"]
    lines += [f"| {method} | " + " | ".join(cells) + " |" for method, cells in table_cells(table, test_sets)]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"


def _html_text(markdown: str) -> str:
    """A Markdown cell or note as HTML: escaped, with its bold and code marks."""
    text = html.escape(markdown)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def to_html(table: pd.DataFrame, test_sets: Sequence[str], notes: Sequence[str], *, title: str) -> str:
    """A standalone HTML page of the table and its caveats, which Snakemake's report shows
    inline (a CSV is only offered for download there)."""
    head = "".join(f"<th>{html.escape(s)}<br>PSNR / SSIM / LPIPS</th>" for s in test_sets)
    body = "".join(f"<tr><td>{html.escape(method)}</td>" + "".join(f"<td>{_html_text(c)}</td>" for c in cells)
                   + "</tr>" for method, cells in table_cells(table, test_sets))
    items = "".join(f"<li>{_html_text(note)}</li>" for note in notes)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif} table{border-collapse:collapse} "
            "td,th{border:1px solid #999;padding:4px 10px;text-align:center}</style></head><body>"
            f"<h2>{html.escape(title)}</h2><table><tr><th>Method</th>{head}</tr>{body}</table>"
            f"<ul>{items}</ul></body></html>\n")


def config_html(config_yaml: str, *, title: str) -> str:
    """The resolved config of an experiment as an HTML page for the report."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><h2>{html.escape(title)}</h2><pre>{html.escape(config_yaml)}</pre></body></html>\n")


CONFIG_HEADER = ("# The resolved config of this experiment (defaults filled in): every key that shapes its\n"
                 "# results. How it ran (threads, device, compile, checkpoint_every, tile,\n"
                 "# max_image_pixels) is in the logs.\n")


def write_config_record(config: Mapping, *, experiment: str, yaml_out: Path, html_out: Path) -> str:
    """Rule record_config: the resolved config of an experiment as YAML beside its results (so a
    result can be traced to its settings) and as a page of the HTML report; returns the YAML."""
    text = CONFIG_HEADER + yaml.safe_dump(dict(config), sort_keys=True)
    write_text(yaml_out, text)
    write_text(html_out, config_html(text, title=f"Config of experiment {experiment}"))
    return text


def table_notes(*, protocol: str, scale: int, content_weights: str, smoke_scale: bool,
                lpips_unavailable: str | None = None) -> list[str]:
    """The caveats printed under a table: protocol, LPIPS, VGG weights, and the scale of the run."""
    notes = [f"Protocol `{protocol}`: " + PROTOCOL_NOTES[protocol].format(scale=scale)]
    if lpips_unavailable:
        notes.append(f"**LPIPS is n/a**: {lpips_unavailable}. Supply torchvision's "
                     "alexnet-owt-7be5be79.pth (`srgan fetch-weights`, or `lpips.weights_path`).")
    else:
        notes.append("LPIPS: AlexNet, version 0.1 (Zhang et al. 2018), lower is better"
                     + (f", {scale} px border cropped." if protocol == "standard" else "."))
    if content_weights == "random-fallback":
        notes.append("**WARNING: the SRGAN content loss used RANDOM VGG19 weights** (ImageNet weights "
                     "were unavailable offline); the SRGAN row is not comparable with the paper.")
    if smoke_scale:
        notes.append("Smoke-scale run on the small images shipped with scikit-image: it exercises "
                     "every stage, but its numbers are not comparable with the paper's.")
    return notes


def lpips_unavailable_reason(lpips_status: Path) -> str | None:
    """Why LPIPS is n/a, from an experiment's ``lpips_network.json`` (rule lpips_network); None
    when it was computed. The notes quote it, so every table says why its column is empty."""
    status = json.loads(Path(lpips_status).read_text())
    return None if status["available"] else status["reason"]


def content_weights(content_network: Path) -> str:
    """The weights the SRGAN content loss used (``random-fallback`` when ImageNet's were missing),
    from rule train_gan's ``content_network.json``: the notes warn when they were random."""
    return json.loads(Path(content_network).read_text())["weights"]


def write_table(table: pd.DataFrame, markdown: str, *, csv_path: Path, markdown_path: Path) -> None:
    """A table as CSV (full precision) and as its rendered ``markdown``, each written atomically."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    write_text(markdown_path, markdown)


# Published bicubic x4 baselines, PSNR (dB) / SSIM, standard protocol (Y, 4 px border): the bicubic
# rows of the benchmark tables of EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image
# Super-Resolution", CVPRW 2017, its benchmark table) and ESRGAN (Wang et al., "ESRGAN: Enhanced
# Super-Resolution Generative Adversarial Networks", ECCVW 2018).
PUBLISHED_BICUBIC_X4 = {
    "Set5": (28.42, 0.8104),
    "Set14": (26.00, 0.7027),
    "B100": (25.96, 0.6675),
    "Urban100": (23.14, 0.6577),
    "DIV2K_valid": (26.66, 0.8521),
}
# Other spellings of the same test sets in configs and folder names.
TEST_SET_ALIASES = {"bsd100": "B100", "b100": "B100", "set5": "Set5", "set14": "Set14",
                    "urban100": "Urban100", "div2k_valid": "DIV2K_valid", "div2k-valid": "DIV2K_valid"}


def published_bicubic(test_set: str) -> tuple[float, float] | None:
    """The published x4 bicubic (PSNR, SSIM) of a test set, by name or alias; None if unknown."""
    return PUBLISHED_BICUBIC_X4.get(TEST_SET_ALIASES.get(test_set.lower(), test_set))


def bicubic_comparison(means: Mapping[str, tuple[float, float]], *, comparable: bool) -> pd.DataFrame:
    """Our bicubic PSNR/SSIM per test set beside the published numbers and the difference.

    ``comparable`` is False when the protocol or scale differ from the published tables (the
    published columns are then left empty rather than compared with something else).
    """
    rows = []
    for test_set, (psnr, ssim) in means.items():
        published = published_bicubic(test_set) if comparable else None
        pub_psnr, pub_ssim = published if published else (float("nan"), float("nan"))
        rows.append({"test_set": test_set, "psnr": psnr, "ssim": ssim, "published_psnr": pub_psnr,
                     "published_ssim": pub_ssim, "diff_psnr": psnr - pub_psnr, "diff_ssim": ssim - pub_ssim})
    return pd.DataFrame(rows)


def bicubic_markdown(table: pd.DataFrame, notes: Sequence[str]) -> str:
    lines = ["| Test set | ours PSNR / SSIM | published PSNR / SSIM | difference |", "|---|---|---|---|"]
    for _, row in table.iterrows():
        published = ("-" if pd.isna(row["published_psnr"])
                     else f"{row['published_psnr']:.2f} / {row['published_ssim']:.4f}")
        diff = "-" if pd.isna(row["diff_psnr"]) else f"{row['diff_psnr']:+.3f} / {row['diff_ssim']:+.4f}"
        lines.append(f"| {row['test_set']} | {row['psnr']:.3f} / {row['ssim']:.4f} | {published} | {diff} |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"


def published_comparable(*, protocol: str, scale: int, round_y: bool) -> bool:
    """Whether our numbers are measured as the published ones are (x4, the standard protocol,
    Y rounded to 8 bits as MATLAB's rgb2ycbcr does); else comparing them would mislead."""
    return protocol == "standard" and scale == 4 and round_y


def bicubic_notes(*, protocol: str, scale: int, comparable: bool) -> list[str]:
    """The caveats under the bicubic table: protocol, how LR and SR were made, whose numbers."""
    notes = [f"Protocol `{protocol}`: " + PROTOCOL_NOTES[protocol].format(scale=scale),
             "LR = MATLAB-exact bicubic imresize(modcrop(HR), 1/scale); SR = bicubic imresize(LR, scale).",
             "Published: EDSR / ESRGAN tables (x4, Y channel, 4 px border)."]
    if not comparable:
        notes.append("The published numbers are x4 under the standard protocol with rounded Y; "
                     "this run differs, so they are not shown.")
    return notes


def write_bicubic_table(metrics_csvs: Sequence[Path], *, test_sets: Sequence[str], protocol: str,
                        scale: int, round_y: bool, csv_out: Path, markdown_out: Path) -> pd.DataFrame:
    """Rule bicubic_table: our bicubic mean PSNR/SSIM per test set (``metrics_csvs[i]`` is
    ``test_sets[i]``'s) beside the published x4 baselines, as CSV and Markdown."""
    means = {name: read_mean(Path(path)) for name, path in zip(test_sets, metrics_csvs, strict=True)}
    comparable = published_comparable(protocol=protocol, scale=scale, round_y=round_y)
    table = bicubic_comparison(means, comparable=comparable)
    notes = bicubic_notes(protocol=protocol, scale=scale, comparable=comparable)
    write_table(table, bicubic_markdown(table, notes), csv_path=Path(csv_out), markdown_path=Path(markdown_out))
    return table


# Ledig et al. 2017, Table 2 (x4; PSNR on Y with a 4 px border; SSIM from the daala tool, whose
# Gaussian sigma grows with the image height, so it reads higher than the standard SSIM).
PAPER_TABLE2 = {
    "Set5": {"bicubic": (28.43, 0.8211), "srresnet": (32.05, 0.9019), "srgan": (29.40, 0.8472)},
    "Set14": {"bicubic": (25.99, 0.7486), "srresnet": (28.49, 0.8184), "srgan": (26.02, 0.7397)},
    "B100": {"bicubic": (25.94, 0.6935), "srresnet": (27.58, 0.7620), "srgan": (25.16, 0.6688)},
}


def paper_comparison(table: pd.DataFrame, test_sets: Sequence[str]) -> pd.DataFrame:
    """Long table: method, test set, ours, the paper's Table 2, and ours minus the paper's."""
    rows = []
    for _, row in table.iterrows():
        method = next(key for key, label in METHOD_LABELS.items() if label == row["method"])
        for test_set in test_sets:
            paper = PAPER_TABLE2.get(TEST_SET_ALIASES.get(test_set.lower(), test_set), {}).get(method)
            if paper is None:
                continue
            psnr, ssim = row[f"{test_set}_psnr"], row[f"{test_set}_ssim"]
            rows.append({"method": row["method"], "test_set": test_set, "psnr": psnr, "ssim": ssim,
                         "paper_psnr": paper[0], "paper_ssim": paper[1],
                         "diff_psnr": psnr - paper[0], "diff_ssim": ssim - paper[1]})
    return pd.DataFrame(rows)


def paper_markdown(comparison: pd.DataFrame) -> str:
    lines = ["| Method | Test set | ours PSNR / SSIM | paper PSNR / SSIM | difference |",
             "|---|---|---|---|---|"]
    for _, r in comparison.iterrows():
        lines.append(f"| {r['method']} | {r['test_set']} | {r['psnr']:.2f} / {r['ssim']:.4f} | "
                     f"{r['paper_psnr']:.2f} / {r['paper_ssim']:.4f} | "
                     f"{r['diff_psnr']:+.2f} / {r['diff_ssim']:+.4f} |")
    return "\n".join(lines) + "\n"


def _latex_number(value: float, digits: int) -> str:
    """``value`` to ``digits`` decimals; PSNR's inf (SR equal to HR) as ``$\\infty$``."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return r"$\infty$" if value > 0 else r"$-\infty$"
    return f"{value:.{digits}f}"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_text(note: str) -> str:
    """A Markdown note as LaTeX text: bold and code marks dropped, LaTeX's special characters
    escaped (a note may quote an error message)."""
    return "".join(LATEX_SPECIALS.get(char, char) for char in note.replace("**", "").replace("`", ""))


def to_latex(table: pd.DataFrame, test_sets: Sequence[str], caption: str,
             notes: Sequence[str] = ()) -> str:
    """A booktabs tabular in the layout of the paper's Table 2 (PSNR, SSIM, LPIPS per method),
    with the same caveats as the Markdown table under it.

    An infinite PSNR (a test set whose SR equals its HR on some image) prints as ``$\\infty$``,
    an LPIPS that could not be computed as n/a.
    """
    escape = lambda text: str(text).replace("_", r"\_")  # noqa: E731
    columns = "l" + "c" * len(table)
    lines = [r"\begin{table}[t]", r"\centering", f"\\caption{{{escape(caption)}}}",
             f"\\begin{{tabular}}{{{columns}}}", r"\toprule",
             "Set & " + " & ".join(escape(m) for m in table["method"]) + r" \\", r"\midrule"]
    for test_set in test_sets:
        psnr = " & ".join(_latex_number(v, 2) for v in table[f"{test_set}_psnr"])
        ssim = " & ".join(_latex_number(v, 4) for v in table[f"{test_set}_ssim"])
        lpips = " & ".join(_latex_number(v, 4) for v in table[f"{test_set}_lpips"])
        lines += [f"{escape(test_set)} PSNR & {psnr}" + r" \\", f"{escape(test_set)} SSIM & {ssim}" + r" \\",
                  f"{escape(test_set)} LPIPS & {lpips}" + r" \\"]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"\\par\\footnotesize {latex_text(note)}" for note in notes]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def method_set_csvs(metrics_csvs: Sequence[Path], methods: Sequence[str],
                    test_sets: Sequence[str]) -> dict[tuple[str, str], Path]:
    """``{(method, test set): metrics CSV}`` of rule tables' flat input, which lists every test
    set of the first method, then of the next (the order of common.smk's ``get_tables_metrics``)."""
    keys = [(method, name) for method in methods for name in test_sets]
    if len(keys) != len(metrics_csvs):
        raise ValueError(f"{len(metrics_csvs)} metrics files for {len(methods)} methods x "
                         f"{len(test_sets)} test sets; expected {len(keys)}")
    return dict(zip(keys, map(Path, metrics_csvs)))


PAPER_SSIM_NOTE = ("The paper's SSIM came from the daala tool and reads higher than the standard SSIM; "
                   "its PSNR is comparable.")


def results_markdown(table: pd.DataFrame, test_sets: Sequence[str], notes: Sequence[str], *,
                     protocol: str, scale: int) -> str:
    """:func:`to_markdown`, then the paper's Table 2 beside ours and our difference from it, for
    the test sets that are the paper's, and only when measured as it was (x4, standard protocol)."""
    markdown = to_markdown(table, test_sets, notes)
    comparison = paper_comparison(table, test_sets)
    if protocol == "standard" and scale == 4 and len(comparison):
        markdown += ("\n### Ledig et al. 2017, Table 2, and our difference\n\n"
                     + paper_markdown(comparison) + f"\n{PAPER_SSIM_NOTE}\n")
    return markdown


def write_results_tables(metrics_csvs: Sequence[Path], *, methods: Sequence[str],
                         test_sets: Sequence[str], content_network: Path, lpips_status: Path,
                         protocol: str, scale: int, smoke_scale: bool, experiment: str,
                         csv_out: Path, markdown_out: Path, latex_out: Path,
                         html_out: Path) -> pd.DataFrame:
    """Rule tables: the results table of an experiment (see :func:`method_set_csvs` for the order
    of ``get_tables_metrics``) as CSV, Markdown (with the paper's Table 2 where comparable), LaTeX and
    an HTML page for the report, each with the same notes (protocol, LPIPS, VGG weights, scale)."""
    table = results_table(method_set_csvs(metrics_csvs, methods, test_sets), test_sets)
    notes = table_notes(protocol=protocol, scale=scale, content_weights=content_weights(content_network),
                        smoke_scale=smoke_scale, lpips_unavailable=lpips_unavailable_reason(lpips_status))
    write_text(html_out, to_html(table, test_sets, notes, title=f"Results of experiment {experiment}"))
    write_table(table, results_markdown(table, test_sets, notes, protocol=protocol, scale=scale),
                csv_path=Path(csv_out), markdown_path=Path(markdown_out))
    write_text(latex_out, to_latex(table, test_sets, f"x{scale} super-resolution, protocol {protocol}", notes))
    return table


def _mean_cells(metrics_csvs: Mapping[str, Path], test_sets: Sequence[str]) -> dict[str, float]:
    """``<set>_psnr``, ``<set>_ssim`` and ``<set>_lpips`` of one method from its metrics CSVs."""
    return {f"{s}_{metric}": value for s in test_sets
            for metric, value in read_mean_row(metrics_csvs[s]).items()}


def ablation_table(experiments: Mapping[str, Mapping], test_sets: Sequence[str]) -> pd.DataFrame:
    """The paper's Table 1 layout: one row per distinct SRResNet, named by the experiments whose
    SRGAN starts from it, then one SRGAN row per experiment (PSNR, SSIM and LPIPS per test set,
    as in :func:`results_table`).

    ``experiments`` maps each name to ``{"content", "vgg_layer", "srresnet": {test set: metrics
    CSV}, "srgan": {test set: metrics CSV}}``. Experiments whose SRResNet CSVs are the same files
    share that SRResNet (the workflow evaluates a shared one once), so it is one row for them all.
    """
    sharing: dict[tuple[str, ...], list[str]] = {}
    for exp, spec in experiments.items():
        files = tuple(str(Path(spec["srresnet"][s])) for s in test_sets)
        sharing.setdefault(files, []).append(exp)
    rows = [{"method": f"SRResNet-MSE ({', '.join(names)})",
             **_mean_cells(experiments[names[0]]["srresnet"], test_sets)} for names in sharing.values()]
    rows += [{"method": f"{content_label(spec['content'], spec['vgg_layer'])} ({exp})",
              **_mean_cells(spec["srgan"], test_sets)} for exp, spec in experiments.items()]
    return pd.DataFrame(rows)


def content_label(content: str, vgg_layer: str) -> str:
    """SRGAN-MSE, or SRGAN-VGG54 for block5_conv4 (phi_5,4), as the paper names its variants."""
    if content == "mse":
        return "SRGAN-MSE"
    block, conv = vgg_layer.removeprefix("block").split("_conv")
    return f"SRGAN-VGG{block}{conv}"


ABLATION_SRRESNET_NOTE = ("An SRResNet-MSE row is one pretrained SRResNet; in brackets, the experiments "
                          "whose SRGAN starts from it.")


def write_ablation(experiments: Mapping[str, Mapping], *, test_sets: Sequence[str], protocol: str,
                   scale: int, csv_out: Path, markdown_out: Path) -> pd.DataFrame:
    """Rule ablation: :func:`ablation_table` as CSV and Markdown, with the notes of the results
    tables. ``experiments`` is as there, each with its ``content_network`` (rule train_gan's
    record) and ``lpips`` (rule lpips_network's decision) files as well: a random-VGG content
    loss or an unavailable LPIPS in any experiment is said under the table."""
    table = ablation_table(experiments, test_sets)
    weights = {content_weights(spec["content_network"]) for spec in experiments.values()}
    reasons = [lpips_unavailable_reason(spec["lpips"]) for spec in experiments.values()]
    notes = table_notes(protocol=protocol, scale=scale,
                        content_weights="random-fallback" if "random-fallback" in weights else "imagenet",
                        smoke_scale=False, lpips_unavailable=next((r for r in reasons if r), None))
    notes.append(ABLATION_SRRESNET_NOTE)
    write_table(table, to_markdown(table, test_sets, notes), csv_path=Path(csv_out),
                markdown_path=Path(markdown_out))
    return table
