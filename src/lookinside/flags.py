"""`flags`: `lookinside train` options written as the command line types them."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any


def flags(options: Mapping[str, Any]) -> str:
    """`options` (TrainConfig fields) as `lookinside train` flags: `--init kaiming --clip 1.0`.
    Switches are named when on (`--channels-last`), telemetry when off (`--no-telemetry`);
    None values are left out; a float keeps every digit (`repr`), so the command trains
    exactly what was tried."""
    words = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key == "telemetry":
            words += [] if value else ["--no-telemetry"]
        elif isinstance(value, bool):
            words += [flag] if value else []
        elif value is None:
            continue
        elif isinstance(value, (tuple, list)):
            words += [flag, ",".join(map(str, value))]
        elif isinstance(value, float):
            words += [flag, repr(value)]
        else:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words)
