"""Writes the API reference, one HTML page per public module, from the docstrings (pdoc).

python docs/api_reference.py [OUT_DIR]      # default: docs/api; `make docs` runs it
"""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path

import pdoc

import lookinside


def public_modules() -> list[str]:
    """The package and each of its public modules. pdoc lists a package's submodules only
    when its `__all__` names them (lookinside's names one, `remedies`; pdoc refuses a module
    named twice), and lookinside's `__all__` names the API, not modules."""
    found = pkgutil.iter_modules(lookinside.__path__, "lookinside.")
    return ["lookinside"] + [
        m.name
        for m in found
        if not m.name.rpartition(".")[2].startswith("_")
        and m.name.rpartition(".")[2] not in lookinside.__all__
    ]


def build(out: Path) -> Path:
    """Write the reference into `out`; returns its index page. The package's names load
    when first used: each is asked for first, so that pdoc finds them in the package."""
    for name in lookinside.__all__:
        getattr(lookinside, name)
    pdoc.pdoc(*public_modules(), output_directory=out)
    return out / "index.html"


if __name__ == "__main__":
    index = build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "api")
    print(f"API reference: {index}")
