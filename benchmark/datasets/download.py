"""Fetching dataset files from their original sources, for users with a network.

A loader first looks in the data root; only when its files are absent does it download, and only
where that can work: downloads are not disabled (``BENCHMARK_OFFLINE=1``) and the data root is
writable. Every file is downloaded to a temporary name beside its destination, checked, and then
renamed into place, so an interrupted or corrupt download never replaces or imitates a good file.
Whatever goes wrong ends as a :class:`DataUnavailableError` naming the expected files and the source.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from benchmark.errors import BenchmarkError, DataUnavailableError

OFFLINE_ENV = "BENCHMARK_OFFLINE"
USER_AGENT = "imbalance-benchmark (+https://pypi.org/project/imbalance-benchmark)"
TIMEOUT_S = 60


def downloads_disabled() -> bool:
    """True when ``BENCHMARK_OFFLINE`` is set to 1/true/yes (CI, air-gapped machines)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def require_download(dataset: str, data_root: Path, expected: list[str], source: str) -> None:
    """Raise :class:`DataUnavailableError` unless a download into ``data_root`` may be attempted."""
    if downloads_disabled():
        raise DataUnavailableError(dataset, expected, source,
                                   f"the files are not under {data_root} and downloads are off ({OFFLINE_ENV}=1)")
    if not os.access(data_root, os.W_OK):
        raise DataUnavailableError(dataset, expected, source,
                                   f"the files are not under {data_root}, which is read-only, so they cannot be "
                                   "downloaded there")


def download_file(url: str, dest: Path) -> Path:
    """Download ``url`` to ``dest`` through a temporary file (renamed only when complete)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False) as tmp:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                shutil.copyfileobj(response, tmp)
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, dest)
    return dest


def install_checked(src: Path, dest: Path, check: Callable[[Path], object], origin: str = "") -> Path:
    """Run ``check`` on ``src`` (it raises on bad content); only then move ``src`` to ``dest``."""
    try:
        check(src)
    except BenchmarkError as exc:
        src.unlink(missing_ok=True)
        raise BenchmarkError(f"the downloaded {dest.name}{' from ' + origin if origin else ''} is damaged and was "
                             f"not installed: {exc.message}", exc.fix) from exc
    except BaseException:
        src.unlink(missing_ok=True)
        raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    return dest


def extract_member(archive: Path, member: str, dest: Path, check: Callable[[Path], object], origin: str = "") -> Path:
    """Copy the zip member whose base name is ``member`` to ``dest``, checked, without a partial file."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if Path(n).name == member]
            if not names:
                raise BenchmarkError(f"the archive {archive} holds no file named {member!r} "
                                     f"(it holds {', '.join(zf.namelist()[:10])})",
                                     "the source has changed its layout: download the file by hand")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(names[0]) as fh, tempfile.NamedTemporaryFile(
                dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False
            ) as tmp:
                shutil.copyfileobj(fh, tmp)
    except zipfile.BadZipFile as exc:
        raise BenchmarkError(f"the downloaded archive {archive} is not a valid zip file ({exc})",
                             "download it again, or fetch the file by hand") from exc
    return install_checked(Path(tmp.name), dest, check, origin)


def fetch_zip_member(dataset: str, urls: list[str], member: str, dest: Path, expected: list[str], source: str,
                     check: Callable[[Path], object]) -> Path:
    """Download the first of ``urls`` that answers, extract ``member`` to ``dest`` and check it.

    Network failures of every URL become one :class:`DataUnavailableError` that lists them.
    """
    failures = []
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        for url in urls:
            archive = Path(tmp) / "archive.zip"
            try:
                download_file(url, archive)
            except OSError as exc:  # URLError, HTTPError, timeouts, refused connections
                failures.append(f"{url}: {exc}")
                continue
            return extract_member(archive, member, dest, check, origin=url)
    raise DataUnavailableError(dataset, expected, source, "the download failed: " + "; ".join(failures))
