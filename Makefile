# The two commands of the README: `make demo` and `make test`. Both install what is missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# A fixed torch: the CPU wheel that lies on the development machines' disk (see DEVELOPERS.md).
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime

.PHONY: demo test lint browser bench docs clean

# The demo needs the runtime dependencies only; the checks, the dev extra too.
$(RUNTIME): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	@$(PY) -m pip install -q -e .
	@touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	@$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

demo: $(RUNTIME)
	$(VENV)/bin/lookinside train --epochs 1

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks docs/api_reference.py
	$(VENV)/bin/ruff format --check src tests benchmarks docs/api_reference.py
	$(VENV)/bin/mypy

# The report's browser test needs Chromium: Debian's package, installed here when missing.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "make: could not install chromium; the report's browser test will fail (install it by hand)"

test: lint browser
	MPLBACKEND=Agg $(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) benchmarks/loop_overhead.py
	$(PY) benchmarks/loader.py

# The API reference from the docstrings (docs/api/index.html), and the tutorial run again in
# place, its outputs (plots included) refreshed.
docs: $(STAMP)
	$(PY) docs/api_reference.py docs/api
	env -u MPLBACKEND $(VENV)/bin/jupyter-execute --inplace docs/tutorial.ipynb

clean:
	rm -rf runs docs/api .pytest_cache .mypy_cache .ruff_cache
