"""``srgan check-config`` and ``srgan fetch-weights`` (``srgan upscale`` is tests/test_upscale.py's)."""

from __future__ import annotations

from pathlib import Path

from srgan.cli import main


def test_check_config_names_the_line_of_a_yaml_error(tmp_path: Path, capsys) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("scale: 4\n")
    bad.write_text("scale: 4\ngan: {lr: 1e-4\npatches: {}\n")
    assert main(["check-config", str(good), str(bad)]) == 1
    out = capsys.readouterr()
    assert f"{good}: YAML OK" in out.out
    assert f"{bad}:3:" in out.err and "starts at line 2, column 6" in out.err
    assert main(["check-config", str(good)]) == 0


def test_fetch_weights_caches_both_files_through_torchvision(tmp_path: Path, monkeypatch) -> None:
    import torch
    from torchvision.models import AlexNet_Weights, VGG19_Weights

    fetched = []
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    for weights in (VGG19_Weights.IMAGENET1K_V1, AlexNet_Weights.IMAGENET1K_V1):
        monkeypatch.setattr(type(weights), "get_state_dict",
                            lambda self, **kwargs: fetched.append((self.url, kwargs)) or {})
    assert main(["fetch-weights"]) == 0
    assert [url.rsplit("/", 1)[1] for url, _ in fetched] == ["vgg19-dcbb9e9d.pth", "alexnet-owt-7be5be79.pth"]
    assert all(kwargs["check_hash"] for _, kwargs in fetched)
