# blockgemm-catalog. `make test` and `make tune` install what is missing first, so a fresh
# clone needs no other step. On a machine without a GPU, torch is pinned to the local CPU wheel
# (torch==2.13.0) before anything else, so pip never pulls the multi-GB CUDA build.

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
SITE_DATA ?= site_data
PYTEST_ARGS ?=

# Everything the project imports; numpy must stay < 2.3 for triton 3.6's CPU interpreter.
define CHECK_DEPS
import importlib, sys
mods = "torch triton numpy pydantic jinja2 plotly mkdocs material tqdm pytest pytest_timeout playwright ray kernels generator".split()
missing = [m for m in mods if importlib.util.find_spec(m) is None]
import numpy
if tuple(int(x) for x in numpy.__version__.split(".")[:2]) >= (2, 3):
    missing.append("numpy<2.3")
sys.exit(1 if missing else 0)
endef
export CHECK_DEPS

.PHONY: install test tune bench bench-quick site serve lint

install:
	@if $(PYTHON) -c "$$CHECK_DEPS" 2>/dev/null; then \
		echo "install: everything is already installed"; \
	else \
		if ! $(PYTHON) -c "import torch" 2>/dev/null; then \
			if command -v nvidia-smi >/dev/null 2>&1; then $(PIP) install torch; \
			else $(PIP) install torch==2.13.0; fi; \
		fi; \
		$(PIP) install -e ".[test,ray]"; \
	fi

test: install
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

# The committed catalog: all bundled models at TP 8, the models that fit one GPU at TP 1, and the
# DeepSeek-R1 MLA batched shapes at every TP (B = 128, 64, 32, 16). Finished tasks are skipped,
# so an interrupted run resumes. Without a CUDA GPU each line says so and changes nothing.
tune: install
	$(PYTHON) -m generator tune --model all --tp-size 8 --save-path $(SITE_DATA)
	$(PYTHON) -m generator tune --model llama-3.1-8b --model qwen3-32b --model qwen3-vl-32b \
		--tp-size 1 --save-path $(SITE_DATA)
	$(PYTHON) -m generator tune --model deepseek-v3 --tp-size 1 --tp-size 2 --tp-size 4 \
		--kernels a16w8_batched --save-path $(SITE_DATA)

bench: install
	$(PYTHON) -m generator bench --save-path $(SITE_DATA)

bench-quick: install
	$(PYTHON) benchmarks/bench_quick.py

site:
	mkdocs build --strict

serve:
	mkdocs serve

lint:
	ruff check kernels generator tests benchmarks
