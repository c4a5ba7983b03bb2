"""srgan.download: resumable, verified fetches against a loopback server, and registry datasets
fetched through it (download, extract, manifest).

No test touches the internet. Each starts its own HTTP server on 127.0.0.1 that serves bytes or
archives built here, inside tmp_path, from the offline images in ../shared/data (see its README),
and that misbehaves on demand: truncated bodies, ignored Range headers, flipped bytes, 404.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import srgan.download as downloader
from srgan.datasets import fetch_dataset, prepare_dataset
from srgan.download import ChecksumError, DownloadError, download
from srgan.io import file_hash, load_rgb
from srgan.registry import ARCHIVES, REGISTRY, Archive

SHARED_DATA = Path(os.environ.get("SRGAN_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))


# --- the loopback server -------------------------------------------------------------------------

@dataclass
class Server:
    """What the server serves, how it misbehaves, and what it was asked."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> bytes
    truncate_first: int | None = None  # first response: send this many body bytes, then close
    ignore_range: bool = False  # always answer 200 with the whole file
    flip_byte: bool = False  # serve the file with one byte changed
    fail_status: int | None = None  # answer every request with this HTTP error
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    body_bytes: int = 0  # body bytes sent, all requests together

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: closing is how we truncate

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        state: Server = self.server.state  # type: ignore[attr-defined]
        state.requests.append((self.path, self.headers.get("Range")))
        if state.fail_status is not None:
            self.send_error(state.fail_status)
            return
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        if state.flip_byte:
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not state.ignore_range:
            start = int(match[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.truncate_first is not None and len(state.requests) == 1:
            body = body[:state.truncate_first]
        # Counted before the write: the client can finish, and the test read the count, before this
        # thread runs again after the last byte leaves (a race that failed CI-like runs now and then).
        state.body_bytes += len(body)
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(request, monkeypatch) -> Server:
    for key in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(downloader, "BACKOFF_BASE_S", 0.0)  # the module that reads it
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    request.addfinalizer(stop)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    return state


# --- payloads ------------------------------------------------------------------------------------

@pytest.fixture
def blob() -> bytes:
    return random.Random(0).randbytes(300_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def shared() -> Path:
    if not (SHARED_DATA / "Set5" / "HR").is_dir() or not (SHARED_DATA / "Set14" / "HR").is_dir():
        pytest.skip(f"offline benchmark data not found at {SHARED_DATA} (set SRGAN_SHARED_DATA)")
    return SHARED_DATA


SET14_FEW = ("bridge", "face", "foreman")  # bridge is 8-bit grayscale: exercises the conversion


def benchmark_tar(shared: Path) -> bytes:
    """EDSR's layout: benchmark/<Set>/HR/*.png plus LR files that must not be extracted."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted((shared / "Set5" / "HR").glob("*.png")):
            tar.add(path, arcname=f"benchmark/Set5/HR/{path.name}")
        for stem in SET14_FEW:
            tar.add(shared / "Set14" / "HR" / f"{stem}.png", arcname=f"benchmark/Set14/HR/{stem}.png")
        lr = sorted((shared / "Set5" / "LR_x4").glob("*.png"))[0]
        tar.add(lr, arcname=f"benchmark/Set5/LR_bicubic/X4/{lr.stem}x4.png")
    return buffer.getvalue()


def div2k_zip(shared: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for stem in SET14_FEW:
            archive.write(shared / "Set14" / "HR" / f"{stem}.png", f"DIV2K_valid_HR/{stem}.png")
    return buffer.getvalue()


def manifest_rows(path: Path) -> dict[str, list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0] == "name\twidth\theight\tsha256"
    return {row.split("\t")[0]: row.split("\t")[1:] for row in lines[1:]}


# --- download ------------------------------------------------------------------------------------

def test_truncated_download_resumes_with_range(server: Server, blob: bytes, tmp_path: Path) -> None:
    server.files["/f.bin"] = blob
    server.truncate_first = 100_000
    dest = download(server.url("/f.bin"), tmp_path / "f.bin", sha256=sha(blob), size=len(blob),
                    progress=False)
    assert dest.read_bytes() == blob
    assert server.requests == [("/f.bin", None), ("/f.bin", "bytes=100000-")]
    assert server.body_bytes == len(blob)
    assert not (tmp_path / "f.bin.part").exists()


def test_existing_part_is_resumed(server: Server, blob: bytes, tmp_path: Path) -> None:
    server.files["/f.bin"] = blob
    half = len(blob) // 2
    (tmp_path / "f.bin.part").write_bytes(blob[:half])
    download(server.url("/f.bin"), tmp_path / "f.bin", sha256=sha(blob), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == blob
    assert server.requests == [("/f.bin", f"bytes={half}-")]
    assert server.body_bytes == len(blob) - half


def test_complete_part_gets_416_and_is_verified(server: Server, blob: bytes, tmp_path: Path) -> None:
    server.files["/f.bin"] = blob
    (tmp_path / "f.bin.part").write_bytes(blob)
    download(server.url("/f.bin"), tmp_path / "f.bin", sha256=sha(blob), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == blob and server.body_bytes == 0


def test_server_ignoring_range_restarts_from_zero(server: Server, blob: bytes, tmp_path: Path) -> None:
    server.files["/f.bin"] = blob
    server.ignore_range = True
    server.truncate_first = 50_000
    (tmp_path / "f.bin.part").write_bytes(blob[:1000])
    download(server.url("/f.bin"), tmp_path / "f.bin", md5=hashlib.md5(blob).hexdigest(),
             progress=False)
    assert (tmp_path / "f.bin").read_bytes() == blob
    assert [rng for _, rng in server.requests] == ["bytes=1000-", "bytes=50000-"]


def test_corrupted_download_raises_and_leaves_nothing(server: Server, blob: bytes, tmp_path: Path) -> None:
    server.files["/f.bin"] = blob
    server.flip_byte = True
    bad = blob[:100] + bytes([blob[100] ^ 0xFF]) + blob[101:]
    with pytest.raises(ChecksumError, match=rf"f\.bin.*sha256 expected {sha(blob)}, got {sha(bad)}"):
        download(server.url("/f.bin"), tmp_path / "f.bin", sha256=sha(blob), progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_404_fails_at_once_naming_the_url(server: Server, tmp_path: Path) -> None:
    url = server.url("/missing.zip")
    with pytest.raises(DownloadError, match=rf"{re.escape(url)} failed: HTTP 404"):
        download(url, tmp_path / "missing.zip", sha256="0" * 64, progress=False)
    assert len(server.requests) == 1


def test_server_errors_are_retried_then_reported(server: Server, tmp_path: Path) -> None:
    server.fail_status = 503
    with pytest.raises(DownloadError, match="after 2 retries: HTTP 503"):
        download(server.url("/f.bin"), tmp_path / "f.bin", sha256="0" * 64, retries=2, progress=False)
    assert len(server.requests) == 3


def test_verified_dest_is_reused_without_network(server: Server, blob: bytes, tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(blob)
    download(server.url("/f.bin"), tmp_path / "f.bin", sha256=sha(blob), progress=False)
    assert server.requests == []


def test_bad_arguments_name_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of sha256= or md5=; got neither"):
        download("http://127.0.0.1:9/x", tmp_path / "x")
    with pytest.raises(ValueError, match="'abc' is not 64 hex digits"):
        download("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc")
    with pytest.raises(ValueError, match="must be http"):
        download("file:///etc/passwd", tmp_path / "x", md5="0" * 32)


# --- fetch_dataset -------------------------------------------------------------------------------

def loopback_registry(server: Server, shared: Path) -> tuple[dict, dict[str, Archive]]:
    tar, zipped = benchmark_tar(shared), div2k_zip(shared)
    server.files.update({"/benchmark.tar": tar, "/DIV2K_valid_HR.zip": zipped})
    archives = {
        "benchmark": Archive(url=server.url("/benchmark.tar"), md5=hashlib.md5(tar).hexdigest(),
                             kind="tar"),
        "div2k_valid_hr": Archive(url=server.url("/DIV2K_valid_HR.zip"), sha256=sha(zipped),
                                  size=len(zipped), kind="zip"),
    }
    return {name: REGISTRY[name] for name in ("Set5", "Set14", "DIV2K_valid")}, archives


def test_fetch_extracts_images_and_manifest(server: Server, shared: Path, tmp_path: Path) -> None:
    registry, archives = loopback_registry(server, shared)
    kwargs = dict(download_dir=tmp_path / "downloads", registry=registry, archives=archives,
                  progress=False)
    out = tmp_path / "datasets" / "Set5"
    assert fetch_dataset("Set5", out_dir=out / "HR", manifest=out / "MANIFEST.tsv", **kwargs) == 5
    rows = manifest_rows(out / "MANIFEST.tsv")
    assert sorted(rows) == sorted(path.name for path in (shared / "Set5" / "HR").glob("*.png"))
    for name, (width, height, digest) in rows.items():
        assert digest == file_hash(out / "HR" / name)
        assert digest == file_hash(shared / "Set5" / "HR" / name)  # RGB PNGs keep their bytes
    assert not any(path.name.startswith(".tmp-") for path in out.iterdir())
    # Set14 comes from the same tar: verified on disk, no second request.
    n = len(server.requests)
    fetch_dataset("Set14", out_dir=tmp_path / "s14", manifest=tmp_path / "s14.tsv", **kwargs)
    assert len(server.requests) == n
    # DIV2K_valid from a zip; the grayscale bridge is stored as RGB with the same pixels.
    assert fetch_dataset("DIV2K_valid", out_dir=tmp_path / "dv", manifest=tmp_path / "dv.tsv",
                         **kwargs) == 3
    bridge = load_rgb(tmp_path / "dv" / "bridge.png")
    assert (bridge == load_rgb(shared / "Set14" / "HR" / "bridge.png")).all()
    assert manifest_rows(tmp_path / "dv.tsv")["bridge.png"][2] == file_hash(tmp_path / "dv" / "bridge.png")


def test_prepare_dataset_registry_source(server: Server, shared: Path, tmp_path: Path,
                                         monkeypatch) -> None:
    _, archives = loopback_registry(server, shared)
    monkeypatch.setitem(ARCHIVES, "benchmark", archives["benchmark"])
    count = prepare_dataset(source="registry", name="Set5", out_dir=tmp_path / "HR",
                            manifest=tmp_path / "MANIFEST.tsv", download_dir=tmp_path / "dl")
    assert count == 5 and (tmp_path / "dl" / "benchmark.tar").is_file()
    with pytest.raises(ValueError, match=r"needs name=, one of \['B100'"):
        prepare_dataset(source="registry", out_dir=tmp_path / "x", manifest=tmp_path / "x.tsv")


def test_corrupted_archive_leaves_no_dataset(server: Server, shared: Path, tmp_path: Path) -> None:
    registry, archives = loopback_registry(server, shared)
    server.flip_byte = True
    data = server.files["/DIV2K_valid_HR.zip"]
    bad = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
    out = tmp_path / "datasets" / "DIV2K_valid"
    with pytest.raises(ChecksumError, match=f"expected {sha(data)}, got {sha(bad)}"):
        fetch_dataset("DIV2K_valid", out_dir=out / "HR", manifest=out / "MANIFEST.tsv",
                      download_dir=tmp_path / "dl", registry=registry, archives=archives,
                      progress=False)
    assert not out.exists()
    assert [path.name for path in (tmp_path / "dl").iterdir()] == ["DIV2K_valid_HR.zip.lock"]
