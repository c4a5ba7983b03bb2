"""Result tables in the layout of the paper's Table 2: rows bicubic / SRResNet / SRGAN, columns the
test sets, PSNR and SSIM; written as CSV and Markdown with the protocol and caveats stated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from srgan.io import atomic_path, write_text

METHOD_LABELS = {"bicubic": "Bicubic", "srresnet": "SRResNet", "srgan": "SRGAN"}

PROTOCOL_NOTES = {
    "standard": "PSNR (dB) / SSIM on the Y channel (BT.601), {scale} px border cropped, "
                "Gaussian SSIM (11x11, sigma 1.5).",
    "report": "PSNR (dB) on RGB and SSIM as the mean of the R, G, B SSIMs (the student report's protocol), "
              "no border crop.",
}


def read_mean(metrics_csv: Path) -> tuple[float, float]:
    """The ``mean`` row (PSNR, SSIM) of a per-image metrics CSV written by srgan.evaluate."""
    frame = pd.read_csv(metrics_csv)
    mean = frame[frame["image"] == "mean"]
    if len(mean) != 1:
        raise ValueError(f"{metrics_csv} has no single 'mean' row")
    return float(mean["psnr"].iloc[0]), float(mean["ssim"].iloc[0])


def results_table(metrics_csvs: Mapping[tuple[str, str], Path], test_sets: Sequence[str]) -> pd.DataFrame:
    """Wide table: one row per method, ``<set>_psnr`` and ``<set>_ssim`` columns per test set."""
    rows = []
    for method in METHOD_LABELS:
        if not any(key[0] == method for key in metrics_csvs):
            continue
        row: dict[str, object] = {"method": METHOD_LABELS[method]}
        for test_set in test_sets:
            psnr, ssim = read_mean(metrics_csvs[(method, test_set)])
            row[f"{test_set}_psnr"], row[f"{test_set}_ssim"] = psnr, ssim
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, test_sets: Sequence[str], notes: Sequence[str]) -> str:
    """GitHub Markdown: one ``PSNR / SSIM`` cell per test set, the best value of each in bold."""
    header = "| Method | " + " | ".join(test_sets) + " |"
    lines = [header, "|---" * (len(test_sets) + 1) + "|"]
    best = {s: (table[f"{s}_psnr"].max(), table[f"{s}_ssim"].max()) for s in test_sets}
    for _, row in table.iterrows():
        cells = []
        for s in test_sets:
            psnr, ssim = row[f"{s}_psnr"], row[f"{s}_ssim"]
            psnr_text = f"**{psnr:.2f}**" if psnr == best[s][0] else f"{psnr:.2f}"
            ssim_text = f"**{ssim:.4f}**" if ssim == best[s][1] else f"{ssim:.4f}"
            cells.append(f"{psnr_text} / {ssim_text}")
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"


def table_notes(*, protocol: str, scale: int, content_weights: str, smoke_scale: bool) -> list[str]:
    """The caveats printed under a table: protocol, VGG weights, and the scale of the run."""
    notes = [f"Protocol `{protocol}`: " + PROTOCOL_NOTES[protocol].format(scale=scale)]
    if content_weights == "random-fallback":
        notes.append("**WARNING: the SRGAN content loss used RANDOM VGG19 weights** (ImageNet weights "
                     "were unavailable offline); the SRGAN row is not comparable with the paper.")
    if smoke_scale:
        notes.append("Smoke-scale run on the small images shipped with scikit-image: it exercises "
                     "every stage, but its numbers are not comparable with the paper's.")
    return notes


def write_tables(table: pd.DataFrame, test_sets: Sequence[str], notes: Sequence[str], *,
                 csv_path: Path, markdown_path: Path) -> None:
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    write_text(markdown_path, to_markdown(table, test_sets, notes))
