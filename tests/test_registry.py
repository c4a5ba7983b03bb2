"""srgan.registry: the table of archives and datasets, the hash pins, and the lookup that fails
on a misspelt name before anything is downloaded.

Sources of the pinned values: DIV2K (Agustsson and Timofte, NTIRE 2017) from its ETH server,
https://data.vision.ee.ethz.ch/cvl/DIV2K/, with the archives' sha256 as TensorFlow Datasets pins
them and their sizes the server's Content-Length; the EDSR benchmark tar (Lim et al. 2017,
https://cv.snu.ac.kr/research/EDSR/benchmark.tar) with the md5 that torchSR's datasets pin; the
image counts are those of the benchmark sets (Set5: Bevilacqua et al. 2012, Set14: Zeyde et al.
2010, B100: Martin et al. 2001, Urban100: Huang et al. 2015) and of DIV2K's 800/100 split."""

from __future__ import annotations

from pathlib import Path

import pytest

from srgan.datasets import fetch_dataset
from srgan.registry import ARCHIVES, REGISTRY, Archive, DatasetEntry, expected_hash, lookup


def test_registry_pins_the_published_archives_and_counts() -> None:
    assert set(REGISTRY) == {"DIV2K_train", "DIV2K_valid", "Set5", "Set14", "B100", "Urban100"}
    assert all(entry.archive in ARCHIVES for entry in REGISTRY.values())
    assert REGISTRY["B100"] == DatasetEntry("benchmark", "benchmark/B100/HR", images=100)
    assert ARCHIVES["div2k_train_hr"].size == 3_530_603_713
    assert ARCHIVES["benchmark"].md5 == "4ace41d33c2384b97e6b320cd0afd6ba"
    names = [archive.filename for archive in ARCHIVES.values()]
    assert len(set(names)) == len(names)  # they share download_dir
    with pytest.raises(ValueError, match="exactly one of sha256= or md5="):
        Archive(url="http://x/a.zip", kind="zip")
    with pytest.raises(ValueError, match=r"archive kind 'rar'.*expected one of"):
        Archive(url="http://x/a.rar", md5="0" * 32, kind="rar")


def test_expected_hash_takes_exactly_one_well_formed_pin() -> None:
    assert expected_hash(sha256=None, md5="ABCDEF" + "0" * 26) == ("md5", "abcdef" + "0" * 26)
    assert expected_hash(sha256="f" * 64, md5=None) == ("sha256", "f" * 64)
    with pytest.raises(ValueError, match=r"exactly one of sha256= or md5=; got \['md5', 'sha256'\]"):
        expected_hash(sha256="f" * 64, md5="0" * 32)
    with pytest.raises(ValueError, match="md5 '0000' is not 32 hex digits"):
        expected_hash(sha256=None, md5="0000")
    with pytest.raises(ValueError, match="is not 64 hex digits"):
        expected_hash(sha256="g" * 64, md5=None)


def test_lookup_returns_the_entry_and_its_archive() -> None:
    assert lookup("Set14") == (REGISTRY["Set14"], ARCHIVES["benchmark"])
    with pytest.raises(ValueError, match=r"dataset 'Mine' names archive 'gone', not one of \['benchmark'"):
        lookup("Mine", registry={"Mine": DatasetEntry("gone", "x")})


def test_unknown_dataset_lists_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'T91'.*\['B100', 'DIV2K_train'"):
        fetch_dataset("T91", out_dir=tmp_path / "HR", manifest=tmp_path / "M", download_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "folder"), [("Set5", "Set5"), ("Set14", "Set14"), ("B100", "BSD100"),
                                              ("Urban100", "Urban100")])
def test_published_image_counts_match_the_benchmark_sets(shared_data: Path, name: str, folder: str) -> None:
    # The plan-time batch-size check trusts these counts before anything is downloaded.
    assert REGISTRY[name].images == len(list((shared_data / folder / "HR").glob("*.png")))
