"""MNIST: the embedded copy, a directory of IDX files, or a checksum-verified download.

`load_mnist()` looks in the explicit `path`, then `$LOOKINSIDE_DATA`, then the copy shipped
inside the package, so it works offline. Every file is checked: the IDX header, the shapes,
and its SHA-256 against the directory's `SHA256SUMS` when there is one. `download_mnist()`
fetches the files from public mirrors into a cache directory, verifying each one's content.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import LookinsideError
from ..files import atomic_write_bytes, atomic_write_text
from .idx import decompress, parse_idx, read_bytes

EMBEDDED_DIR = Path(__file__).parent / "mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# SHA-256 of each file's decompressed content: the same whichever mirror or gzip level made it.
CONTENT_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
SUMS_FILE = "SHA256SUMS"


def default_cache_dir() -> Path:
    """Where downloads go: `$LOOKINSIDE_CACHE/mnist`, else `~/.cache/lookinside/mnist`."""
    root = os.environ.get("LOOKINSIDE_CACHE") or Path.home() / ".cache" / "lookinside"
    return Path(root) / "mnist"


def mnist_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The directory `load_mnist` reads: `path`, else `$LOOKINSIDE_DATA`, else the embedded copy."""
    chosen = path if path is not None else os.environ.get("LOOKINSIDE_DATA")
    if chosen is None:
        return EMBEDDED_DIR
    directory = Path(chosen)
    if not directory.is_dir():
        raise LookinsideError(f"MNIST directory {directory} does not exist.")
    return directory


def _file_in(directory: Path, base: str) -> Path:
    for name in (f"{base}.gz", base):
        if (directory / name).is_file():
            return directory / name
    raise LookinsideError(f"{directory / base}.gz is missing (neither it nor {base} was found).")


def _read_sums(directory: Path) -> dict[str, str]:
    sums_path = directory / SUMS_FILE
    if not sums_path.is_file():
        return {}
    try:
        text = sums_path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "it is not text"
        raise LookinsideError(f"{sums_path} cannot be read: {why}.") from None
    sums = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise LookinsideError(f"{sums_path} line {n} is not '<sha256>  <file name>'.")
        sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def read_mnist_arrays(directory: Path) -> dict[str, np.ndarray]:
    """The four MNIST arrays of `directory` (uint8), after every check."""
    sums = _read_sums(directory)
    arrays = {}
    for role, base in FILES.items():
        path = _file_in(directory, base)
        if path.name in sums and hashlib.sha256(path.read_bytes()).hexdigest() != sums[path.name]:
            raise LookinsideError(f"{path} does not match its SHA-256 in {SUMS_FILE} (corrupt).")
        arrays[role] = parse_idx(read_bytes(path), str(path))
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        where = _file_in(directory, FILES[f"{split}_images"])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise LookinsideError(
                f"{where} holds {images.dtype} of shape {images.shape}, "
                "not uint8 images of shape (N, rows, cols)."
            )
        if labels.dtype.kind not in "iu":
            raise LookinsideError(
                f"{_file_in(directory, FILES[f'{split}_labels'])} holds {labels.dtype} labels; "
                "labels must be integers (class numbers)."
            )
        if labels.shape != images.shape[:1]:
            raise LookinsideError(
                f"{where} holds {len(images)} images but its labels file "
                f"holds {labels.shape} labels."
            )
    return arrays


def load_mnist(
    path: str | os.PathLike[str] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """MNIST as `x_train, y_train, x_valid, y_valid`, validating on the official 10k test set.

    Images are float32 of shape (N, 1, 28, 28), normalised with the training set's mean and std
    (about 0.1307 and 0.3081 on [0, 1] pixels); labels are int64.
    """
    arrays = read_mnist_arrays(mnist_dir(path))
    x_train = torch.from_numpy(arrays["train_images"]).float().div_(255).unsqueeze(1)
    x_valid = torch.from_numpy(arrays["test_images"]).float().div_(255).unsqueeze(1)
    mean, std = x_train.mean(), x_train.std()
    x_train.sub_(mean).div_(std)
    x_valid.sub_(mean).div_(std)
    y_train = torch.from_numpy(arrays["train_labels"]).long()
    y_valid = torch.from_numpy(arrays["test_labels"]).long()
    return x_train, y_train, x_valid, y_valid


def download_mnist(
    dest: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = 30.0,
) -> Path:
    """Download the four files into `dest` (default: the cache), verified, written atomically.

    Each file is tried on each mirror in turn; its decompressed content must match the known
    SHA-256 before it is moved into place. Files already present and valid are kept. Writes a
    `SHA256SUMS` beside them and returns the directory, ready for `load_mnist(dest)`.
    """
    directory = Path(dest) if dest is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for base in FILES.values():
        target = directory / f"{base}.gz"
        if not (target.is_file() and _content_ok(target.read_bytes(), base)):
            _fetch(base, target, mirrors, timeout)
        lines.append(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {target.name}")
    atomic_write_text(directory / SUMS_FILE, "\n".join(lines) + "\n")
    return directory


def _content_ok(data: bytes, base: str) -> bool:
    try:
        content = decompress(data, base)
    except LookinsideError:
        return False
    return hashlib.sha256(content).hexdigest() == CONTENT_SHA256[base]


def _fetch(base: str, target: Path, mirrors: Sequence[str], timeout: float) -> None:
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{base}.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        if _content_ok(data, base):
            atomic_write_bytes(target, data)
            return
        failures.append(f"{url}: content does not match the known SHA-256")
    raise LookinsideError(f"could not download {base}.gz from any mirror ({'; '.join(failures)}).")


__all__ = ["download_mnist", "load_mnist", "mnist_dir", "read_mnist_arrays"]
