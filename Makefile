# blockgemm-catalog. `make test` and `make tune` install what is missing first, so a fresh
# clone needs no other step.
#
# Without a GPU (CI, laptops): the exact, tested environment of .ci/lock/cpu-triton$(TRITON).txt
# (torch 2.13.0 CPU wheel, so pip never pulls the multi-GB CUDA build). TRITON=3.6 (default: what
# the GPU machines run) or TRITON=3.9 (the newest release), the two ends of the supported range.
# With a GPU (nvidia-smi): the installed torch/triton are kept when inside the range declared in
# pyproject.toml (one line says so), and nothing is changed when they are outside it.

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
SITE_DATA ?= site_data
PYTEST_ARGS ?=
TRITON ?= 3.6
LOCK ?= .ci/lock/cpu-triton$(TRITON).txt

.PHONY: install test tune bench bench-quick site serve lint format validate sanitize deepgemm

install:
	@if command -v nvidia-smi >/dev/null 2>&1; then \
		$(PYTHON) generator/install_check.py; code=$$?; \
		if [ $$code -eq 2 ]; then exit 2; fi; \
		if [ $$code -eq 0 ]; then \
			pins=$$(mktemp); \
			$(PYTHON) -c "from importlib.metadata import version as v; print(f'torch=={v(\"torch\")}\ntriton=={v(\"triton\")}')" > $$pins; \
			$(PIP) install -q -e ".[test,ray]" --constraint $$pins; rc=$$?; rm -f $$pins; exit $$rc; \
		fi; \
		$(PIP) install -q -e ".[test,ray]"; \
	else \
		echo "install: CPU environment from $(LOCK)"; \
		$(PIP) install -q -r $(LOCK) && $(PIP) install -q --no-deps -e .; \
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

# Quick look: block FP8 (vLLM's default config) next to bf16 on every DeepSeek-V3 TP 8 weight
# at five batch sizes, into a scratch folder (site_data unchanged; the sweep's summary line says
# where). python lab/bench_quick.py prints the same comparison as a table on four layers.
bench-quick: install
	$(PYTHON) -m generator bench --sweep model --model deepseek-v3 --tp-size 8 \
		--batch-sizes 1,16,128,1024,4096 --providers torch-bf16,triton-fp8-block-default \
		--save-path $${TMPDIR:-/tmp}/blockgemm-bench-quick

# The meaning of every file under $(SITE_DATA), not only its schema (python -m generator
# validate): what CI checks on the committed tree, what the site build runs first, and the gate
# for a contributed GPU (docs/contributing.md). Lists every problem; exit code 2 if any.
validate:
	$(PYTHON) -m generator validate --site-data $(SITE_DATA)

# The kernels' tests on a CUDA GPU under compute-sanitizer's memcheck (out-of-bounds and
# misaligned accesses, invalid frees). PyTorch's caching allocator is turned off, or an access
# past a tensor's end inside one of its pools would go unseen; child processes are followed
# too. Slow (every launch is instrumented): run it on one GPU, not in CI.
SANITIZE_TESTS ?= tests/kernels
sanitize:
	PYTORCH_NO_CUDA_MEMORY_CACHING=1 compute-sanitizer --tool memcheck --target-processes all \
		--error-exitcode 3 --print-limit 50 \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) $(SANITIZE_TESTS)

# DeepGEMM for a GPU machine without network (the engine-default providers): downloads the
# vLLM 0.33.0 wheel with pip (336 MB, cached in .deepgemm-cache), checks its pinned sha256 and
# every file against the wheel's RECORD, and packs only vllm/third_party/deep_gemm, as a
# top-level deep_gemm package, into .deepgemm/deep_gemm-2.8.1-vllm-0.33.0.tar.xz (6 MB). It
# prints the lines that unpack it there (PYTHONPATH, CUDA_HOME for its JIT); the GPU command
# carries .deepgemm (the archive alone). Stdlib and pip only.
deepgemm:
	$(PYTHON) -m generator.deepgemm_fetch --dest .deepgemm --cache .deepgemm-cache

site:
	mkdocs build --strict

serve:
	mkdocs serve

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) .ci/check_imports.py

format:
	$(PYTHON) -m ruff format .
