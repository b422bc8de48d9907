"""MNIST: the embedded copy, directories, checksums, and the download path (local server)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import lookinside as li
from lookinside.datasets.idx import decompress
from lookinside.datasets.mnist import EMBEDDED_DIR, FILES, mnist_dir

from .conftest import write_small_mnist


def test_embedded_mnist_is_the_real_data_normalised_by_training_stats() -> None:
    x_train, y_train, x_valid, y_valid = li.load_mnist()
    assert x_train.shape == (60000, 1, 28, 28) and x_valid.shape == (10000, 1, 28, 28)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert abs(x_train.mean().item()) < 1e-4 and abs(x_train.std().item() - 1) < 1e-4
    assert abs(x_valid.mean().item()) < 0.02  # the test set, normalised by training stats
    assert torch.bincount(y_train).tolist()[:3] == [5923, 6742, 5958]
    assert y_valid.unique().tolist() == list(range(10))


def test_lookup_order_explicit_path_then_env_then_embedded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = write_small_mnist(tmp_path / "env", n_train=32, n_test=8)
    explicit = write_small_mnist(tmp_path / "explicit", n_train=16, n_test=8)
    monkeypatch.delenv("LOOKINSIDE_DATA", raising=False)
    assert mnist_dir() == EMBEDDED_DIR
    monkeypatch.setenv("LOOKINSIDE_DATA", str(env_dir))
    assert len(li.load_mnist()[0]) == 32
    assert len(li.load_mnist(explicit)[0]) == 16


def test_raw_uncompressed_files_are_read_too(tmp_path: Path) -> None:
    from lookinside.datasets.mnist import read_mnist_arrays

    arrays = read_mnist_arrays(write_small_mnist(tmp_path / "gz", 8, 4, sums=False))
    for role, base in FILES.items():
        li.datasets.write_idx(tmp_path / "raw" / base, arrays[role])
    assert len(li.load_mnist(tmp_path / "raw")[2]) == 4


def test_missing_file_is_named(tmp_path: Path) -> None:
    d = write_small_mnist(tmp_path / "d", 8, 4)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(li.LookinsideError, match=r"t10k-labels-idx1-ubyte.gz is missing"):
        li.load_mnist(d)


def test_checksum_mismatch_is_named(tmp_path: Path) -> None:
    d = write_small_mnist(tmp_path / "d", 8, 4)
    path = d / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-12] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(
        li.LookinsideError, match=r"train-images-idx3-ubyte\.gz does not match its SHA-256"
    ):
        li.load_mnist(d)


def test_truncated_file_is_named(tmp_path: Path) -> None:
    d = write_small_mnist(tmp_path / "d", 8, 4, sums=False)
    path = d / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(
        li.LookinsideError, match=r"train-images-idx3-ubyte\.gz is not a valid gzip"
    ):
        li.load_mnist(d)


def test_label_count_mismatch(tmp_path: Path) -> None:
    from lookinside.datasets.mnist import read_mnist_arrays

    d = write_small_mnist(tmp_path / "d", 8, 4, sums=False)
    labels = read_mnist_arrays(d)["train_labels"]
    li.datasets.write_idx(d / "train-labels-idx1-ubyte.gz", labels[:5])
    with pytest.raises(li.LookinsideError, match="holds 8 images but its labels file holds"):
        li.load_mnist(d)


def test_directory_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(li.LookinsideError, match="does not exist"):
        li.load_mnist(tmp_path / "nope")


class _Server:
    """A local HTTP server over a directory, counting requests: the 'mirror' of the tests."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: object, **k: object) -> None:
                super().__init__(*a, directory=str(root), **k)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "mirror"
    (root / "mnist").mkdir(parents=True)
    for base in FILES.values():  # the real files, as a mirror serves them
        (root / "mnist" / f"{base}.gz").write_bytes((EMBEDDED_DIR / f"{base}.gz").read_bytes())
    server = _Server(root)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_download_tries_mirrors_in_turn_verifies_and_loads(tmp_path: Path, mirror: _Server) -> None:
    dest = tmp_path / "cache"
    mirrors = [mirror.url + "missing/", mirror.url + "mnist/"]
    assert li.download_mnist(dest, mirrors=mirrors) == dest
    assert len(mirror.requests) == 8  # each file: a 404 from the first mirror, then the second
    sums = (dest / "SHA256SUMS").read_text().split()
    assert sums[0] == hashlib.sha256((dest / sums[1]).read_bytes()).hexdigest()
    assert li.load_mnist(dest)[0].shape == (60000, 1, 28, 28)
    li.download_mnist(dest, mirrors=mirrors)  # everything present and valid: nothing fetched
    assert len(mirror.requests) == 8


def test_download_refuses_content_with_the_wrong_checksum(tmp_path: Path, mirror: _Server) -> None:
    label = tmp_path / "mirror" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    label.write_bytes(decompress(label.read_bytes())[:-1] + b"\x07")  # one label changed
    dest = tmp_path / "cache"
    with pytest.raises(
        li.LookinsideError, match=r"t10k-labels-idx1-ubyte\.gz from any mirror.*SHA-256"
    ):
        li.download_mnist(dest, mirrors=[mirror.url + "mnist/"])
    assert not (dest / "t10k-labels-idx1-ubyte.gz").exists()
    assert not any(p.name.endswith(".tmp") for p in dest.iterdir())


def test_download_default_destination_is_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: _Server
) -> None:
    monkeypatch.setenv("LOOKINSIDE_CACHE", str(tmp_path / "c"))
    assert li.download_mnist(mirrors=[mirror.url + "mnist/"]) == tmp_path / "c" / "mnist"


def test_a_binary_sha256sums_is_one_sentence(tmp_path: Path) -> None:
    data = write_small_mnist(tmp_path / "data")
    (data / "SHA256SUMS").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(li.LookinsideError, match=r"SHA256SUMS cannot be read: it is not text\."):
        li.load_mnist(data)
