# FlatFlow — `make sim` and `make test` are the two commands; each sets itself up on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?=
BOARD ?= ecp5-85k
SIM ?= verilator
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CFG := $(if $(CONFIG),--config $(CONFIG),)
FLOW := $(VPY) -m pyflow
# Dask scheduler for dse / regress (default: $DASK_SCHEDULER_ADDRESS, else an embedded cluster); docs/CLUSTER.md
SCHEDULER ?=
SCHED := $(if $(SCHEDULER),--scheduler $(SCHEDULER),)
# Configs checked by make regress: the default config and the examples
CONFIGS ?= pyflow/project/configs/default.toml $(sort $(wildcard examples/configs/*.toml))
REGRESS_OPTS ?=

.DEFAULT_GOAL := help
.PHONY: help setup sys-deps sim test test-fast kernels csim rtl synth synth-vitis dse regress bench flat-profile \
        schedule golden lint clean distclean

help: ## List the targets
	@echo "FlatFlow make targets (variables: CONFIG=file.toml BOARD=$(BOARD) SIM=$(SIM) SCHEDULER=tcp://HOST:PORT"
	@echo "  CONFIGS=\"a.toml b.toml\" REGRESS_OPTS=\"--no-flat ...\"):"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@echo "== setting up $(VENV) (first use only) =="
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps hls4ml==1.3.0
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

sys-deps: ## Install Debian packages the flow needs (iverilog; liblz4-dev for Verilator FST waves; clang for the C++ syntax check) when missing
	@missing=""; command -v iverilog >/dev/null 2>&1 || missing="iverilog"; \
	  [ -f /usr/include/lz4.h ] || missing="$$missing liblz4-dev"; \
	  command -v clang++ >/dev/null 2>&1 || missing="$$missing clang"; \
	  if [ -n "$$missing" ]; then \
	    echo "== installing$$missing (apt-get) =="; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get install -y -q $$missing >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $$missing >/dev/null; } || \
	    { echo "error: could not install$$missing with apt-get; install it and rerun" >&2; exit 1; }; \
	  fi

setup: $(STAMP) sys-deps ## Create .venv with pinned packages and install system packages

sim: setup ## Main job: golden decode step, kernels, C-sim, RTL sim, summary report
	$(FLOW) sim $(CFG)

test: setup ## Run the test suite (small dimensions, both simulators)
	$(VPY) -m pytest -q -n $(JOBS) --dist loadgroup

test-fast: setup ## Run the tests that need no RTL simulator
	$(VPY) -m pytest -q -n $(JOBS) -m "not rtl"

golden: setup ## Print the golden decode-step summary and model structure
	$(FLOW) golden summary $(CFG)
	$(FLOW) golden structure $(CFG)

kernels: setup ## Render every kernel (C++, DSLX, Tcl, harnesses) into build/kernels/
	$(FLOW) kernels $(CFG)

csim: setup ## C-simulate every kernel and the top with g++ at the config's dimensions
	$(FLOW) csim $(CFG)

rtl: setup ## Compile every kernel to Verilog with XLS
	$(FLOW) rtl $(CFG)

synth: setup ## Open-source synthesis + place & route (BOARD=ecp5-85k, ice40-up5k, ice40-hx8k, u280...)
	$(FLOW) synth --board $(BOARD) $(CFG)

synth-vitis: setup ## Vitis HLS + Alveo/Zynq package for BOARD=u280|u250|zcu104|kv260|pynq-z2 (COSIM=1, PLATFORM=...)
	$(FLOW) synth-vitis --board $(BOARD) $(CFG) $(if $(COSIM),--cosim,) $(if $(PLATFORM),--platform $(PLATFORM),)

dse: setup ## Design-space exploration over lanes and formats (Dask: embedded cluster or SCHEDULER=...)
	$(FLOW) dse $(CFG) $(SCHED)

regress: setup ## Config-matrix regression: sim for every config in CONFIGS, one summary table
	$(FLOW) regress $(CONFIGS) $(SCHED) $(REGRESS_OPTS)

bench: setup ## Benchmarks that write JSON under build/report/
	$(FLOW) bench softmax-accuracy $(CFG)

flat-profile: setup ## FLAT runtime/memory sweep (default shape), CSV/JSON/plots under build/flat/
	$(FLOW) flat-profile --store-path build/flat

schedule: setup ## Schedule the decode chain on K engines and write Perfetto traces
	$(FLOW) schedule $(CFG)

lint: setup ## ruff
	$(VENV)/bin/ruff check golden hls pyflow testbench tests

clean: ## Remove generated files (build/)
	rm -rf build

distclean: clean ## Remove build/ and .venv/
	rm -rf $(VENV)
