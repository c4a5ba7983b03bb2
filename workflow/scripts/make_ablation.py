"""Rule ablation: the paper's Table 1 layout, one SRGAN row per experiment beside the SRResNet."""

import json
from pathlib import Path

from srgan.io import start_rule
from srgan.tables import ablation_table, content_label, table_notes, to_markdown, write_table


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    experiments = smk.params.experiments
    test_sets = [s for s in next(iter(experiments.values()))["test_sets"]
                 if all(s in e["test_sets"] for e in experiments.values())]
    srgan, k = {}, 0
    for exp, spec in experiments.items():
        for name in spec["test_sets"]:
            srgan[(exp, name)] = Path(smk.input.srgan[k])
            k += 1
    first = next(iter(experiments.values()))["test_sets"]
    srresnet = dict(zip(first, map(Path, smk.input.srresnet)))
    labels = {exp: content_label(spec["content"], spec["vgg_layer"]) for exp, spec in experiments.items()}
    table = ablation_table(srgan, srresnet, labels, test_sets)
    weights = {json.loads(Path(path).read_text())["weights"] for path in smk.input.content}
    lpips = [json.loads(Path(path).read_text()) for path in smk.input.lpips]
    unavailable = next((status["reason"] for status in lpips if not status["available"]), None)
    notes = table_notes(protocol=smk.params.protocol, scale=smk.params.scale,
                        content_weights="random-fallback" if "random-fallback" in weights else "imagenet",
                        smoke_scale=False, lpips_unavailable=unavailable)
    write_table(table, to_markdown(table, test_sets, notes), csv_path=Path(smk.output.csv),
                markdown_path=Path(smk.output.markdown))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
