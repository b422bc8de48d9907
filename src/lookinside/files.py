"""Files written so that a crash never leaves half of one: temporary file, fsync, rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import LookinsideError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike[str], kind: type = dict) -> Any:
    """The JSON value in `path`, which must be a `kind` (a table by default), or one sentence
    saying why it is not (a file a user may have edited, or a write cut short)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) else "it is not valid JSON"
        raise LookinsideError(f"{path} cannot be read: {why}.") from None
    if not isinstance(value, kind):
        wanted = {"dict": "an object", "list": "a list"}.get(kind.__name__, kind.__name__)
        raise LookinsideError(f"{path} does not hold {wanted} of JSON, as it should.")
    return value


@contextlib.contextmanager
def exclusive(lock: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Hold an exclusive lock on the file `lock` (created if missing) while the block runs,
    or say in one sentence that another process holds it: two processes never train the
    same run. The lock goes with the process, however it ends (`flock`)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not a POSIX system: no lock to take)
        yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LookinsideError(
                f"{what} is in use by another lookinside process; wait for it to end."
            ) from None
        yield
    finally:
        os.close(fd)
