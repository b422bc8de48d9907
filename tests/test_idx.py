"""IDX files: round trips and every header check."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from lookinside import LookinsideError
from lookinside.datasets import read_idx, write_idx
from lookinside.datasets.idx import parse_idx


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8", "<f4"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path: Path, dtype: str, name: str) -> None:
    arr = (np.arange(24).reshape(2, 3, 4) % 100).astype(dtype)
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    np.testing.assert_array_equal(back, arr)
    assert back.shape == (2, 3, 4)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\0\0")


def test_rejects_what_is_not_idx() -> None:
    with pytest.raises(LookinsideError, match="bad magic"):
        parse_idx(b"\x01\x02\x08\x01", "f")
    with pytest.raises(LookinsideError, match="type 0x07"):
        parse_idx(b"\0\0\x07\x01", "f")
    with pytest.raises(LookinsideError, match="header"):
        parse_idx(b"\0\0\x08\x02\0\0\0\x01", "f")


def test_truncated_and_padded_files_name_the_sizes() -> None:
    data = b"\0\0\x08\x01" + (5).to_bytes(4, "big") + bytes(5)
    assert parse_idx(data).tolist() == [0] * 5
    with pytest.raises(
        LookinsideError, match=r"f is truncated: 12 bytes where shape \(5,\) needs 13"
    ):
        parse_idx(data[:-1], "f")
    with pytest.raises(LookinsideError, match="longer than its header says"):
        parse_idx(data + b"\0", "f")


def test_corrupt_gzip_and_missing_files(tmp_path: Path) -> None:
    good = gzip.compress(b"\0\0\x08\x01" + (5).to_bytes(4, "big") + bytes(5))
    (tmp_path / "t.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(LookinsideError, match=r"t.gz is not a valid gzip file"):
        read_idx(tmp_path / "t.gz")
    with pytest.raises(LookinsideError, match="nope is missing"):
        read_idx(tmp_path / "nope")


def test_header_dimensions_too_large_for_int64_are_one_sentence() -> None:
    """Three dimensions of 2**32 - 1: their product overflows int64, not Python's ints."""
    import struct

    data = bytes([0, 0, 8, 3]) + struct.pack(">3I", *[2**32 - 1] * 3) + b"\0" * 10
    with pytest.raises(LookinsideError, match=r"is truncated: 26 bytes where shape .* needs 7922"):
        parse_idx(data, "big.idx")
