"""A resumable, verified HTTP downloader on ``urllib.request``, for the registry's archives.

It is hand-written because pooch 1.9 (the fetcher scikit-image uses) cannot resume: each try
streams into a fresh temporary file opened ``w+b`` and never sends ``Range``, so a connection lost
at 3 GB of DIV2K's 3.5 GB starts again from zero. Its ``Untar`` also guards against ``../`` entries
only on Python >= 3.12 (our extractor is :mod:`srgan.archive`).

Nothing here knows about datasets: :func:`download` takes a URL, a destination and the hash that
pins the bytes, and returns only a file that verifies.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from srgan.io import file_hash
from srgan.registry import expected_hash

log = logging.getLogger(__name__)

# Retry backoff: BACKOFF_BASE_S * 2**k seconds, at most BACKOFF_MAX_S. Tests set the base to 0.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0
CHUNK_BYTES = 1 << 20
USER_AGENT = "srgan-reproduction (python urllib)"


class ChecksumError(ValueError):
    """A downloaded file's bytes are not the ones its sha256/md5 (the registry's) pins."""


class DownloadError(RuntimeError):
    """A download that cannot succeed (HTTP 4xx) or that still fails after every retry."""


class _Transient(Exception):
    """A failure worth retrying: network errors, timeouts, short reads, HTTP 5xx and 429."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _check(path: Path, *, algorithm: str, expected: str, size: int | None, what: str) -> None:
    """Raise ChecksumError naming ``what``, the algorithm and both hashes unless ``path`` matches."""
    actual = file_hash(path, algorithm)
    actual_size = path.stat().st_size
    if actual != expected or (size is not None and actual_size != size):
        sizes = f"; size expected {size} B, got {actual_size} B" if size is not None else ""
        raise ChecksumError(f"{what}: {algorithm} expected {expected}, got {actual}{sizes}")


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<dest>.lock``: parallel Snakemake jobs share one archive.

    Without it, Set5 and Set14 jobs would append to the same ``.part`` at once. The lock file is
    left in place (removing it would race with a waiting job). No lock where fcntl is missing.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(dest.with_name(dest.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) from ``bytes a-b/total`` or ``bytes */total``; None where absent."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _retry_after(headers: http.client.HTTPMessage | None) -> float | None:
    """Seconds from a numeric ``Retry-After`` header (429, 503), else None."""
    value = headers.get("Retry-After") if headers is not None else None
    return float(value) if value and value.strip().isdigit() else None


def _attempt(url: str, part: Path, *, size: int | None, timeout: float, bar: tqdm) -> None:
    """One GET that appends to (206) or rewrites (200) ``part``; returns once it is complete."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            _, total = _content_range(error.headers.get("Content-Range"))
            if total is None or total == offset:
                return  # the .part already holds every byte
            part.unlink()
            raise _Transient(f"HTTP 416: {part.name} has {offset} B but the file is {total} B; "
                             "restarting from zero") from None
        if error.code == 429 or error.code >= 500:
            raise _Transient(f"HTTP {error.code} {error.reason}",
                             retry_after=_retry_after(error.headers)) from None
        raise DownloadError(f"GET {url} failed: HTTP {error.code} {error.reason} (not retried; only "
                            "network errors, 5xx and 429 are)") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLCertVerificationError):
            raise DownloadError(f"GET {url} failed: {error.reason}") from error
        raise _Transient(f"{error.reason}") from error
    except (OSError, http.client.HTTPException) as error:  # resets, timeouts, bad status lines
        raise _Transient(f"{type(error).__name__}: {error}") from error

    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise _Transient(f"asked for bytes from {offset}, got a range from {start}; "
                                 "restarting from zero")
            mode = "ab"
        elif response.status == 200:
            if offset:
                log.info("%s ignored the Range request; downloading from byte 0 again", url)
                offset = 0
            mode, total = "wb", length
        else:
            raise DownloadError(f"GET {url}: unexpected HTTP {response.status} {response.reason}")
        if total is None and length is not None:
            total = offset + length
        if size is not None and total is not None and total != size:
            raise DownloadError(f"{url} is {total} B, the registry expects {size} B; "
                                "the upstream file changed or the registry is wrong")
        bar.reset(total=total or size)
        bar.update(offset)
        received = 0
        with open(part, mode) as handle:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as error:
                    raise _Transient(f"{type(error).__name__} after {received} B: {error}") from error
                if not chunk:
                    break
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # http.client returns b"" at a premature close instead of raising, so count the bytes.
    if length is not None and received < length:
        raise _Transient(f"connection closed after {received} of {length} B")
    if size is not None and part.stat().st_size < size:
        raise _Transient(f"{part.name} has {part.stat().st_size} of {size} B")


def download(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None,
             size: int | None = None, retries: int = 5, timeout: float = 60,
             progress: bool = True) -> Path:
    """Download ``url`` to ``dest``, resumable and verified; return ``dest``.

    Bytes stream into ``<dest>.part``; a later call (or a retry) resumes it with ``Range``, so a
    3.5 GB DIV2K download survives dropped connections. Network errors, timeouts, short reads,
    HTTP 5xx and 429 are retried after ``BACKOFF_BASE_S * 2**k`` seconds; ``retries`` counts
    consecutive tries that added no bytes. Other 4xx fail at once (DownloadError). The complete
    file must match ``sha256`` or ``md5`` (exactly one) and ``size`` if given; otherwise the .part
    is deleted and ChecksumError raised. Only a verified file is renamed onto ``dest``, and a
    ``dest`` that already verifies is returned without any request.
    """
    algorithm, expected = expected_hash(sha256=sha256, md5=md5)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"download URL must be http(s), got {url!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _locked(dest):
        if dest.exists():
            try:
                _check(dest, algorithm=algorithm, expected=expected, size=size, what=str(dest))
                log.info("%s already downloaded and verified (%s)", dest, algorithm)
                return dest
            except ChecksumError as error:
                log.warning("%s does not verify, downloading it again: %s", dest, error)
        failures = 0
        with tqdm(total=size, desc=dest.name, unit="B", unit_scale=True, unit_divisor=1024,
                  file=sys.stderr, disable=not progress, mininterval=1.0) as bar:
            while True:
                before = part.stat().st_size if part.exists() else 0
                try:
                    _attempt(url, part, size=size, timeout=timeout, bar=bar)
                    break
                except _Transient as error:
                    grew = part.exists() and part.stat().st_size > before
                    failures = 1 if grew else failures + 1
                    if failures > retries:
                        raise DownloadError(f"GET {url} still failing after {retries} retries: "
                                            f"{error}; run again to resume {part}") from error
                    delay = min(BACKOFF_BASE_S * 2 ** (failures - 1), BACKOFF_MAX_S)
                    delay = max(delay, min(error.retry_after or 0.0, BACKOFF_MAX_S))
                    log.warning("GET %s: %s; retry %d of %d in %.1f s", url, error, failures,
                                retries, delay)
                    time.sleep(delay)
        try:
            _check(part, algorithm=algorithm, expected=expected, size=size,
                   what=f"{dest.name} from {url} (deleted {part.name})")
        except ChecksumError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
    log.info("downloaded and verified %s (%s %s)", dest, algorithm, expected)
    return dest
