# make demo: the whole campaign of workflows/demo.yaml (initial dataset, both active-learning
#            stages, pruning) on the embedded database
# make test: the test suite (starts its own database server)
# Both create .venv when missing and install everything into it (torch CPU build first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.perovflow-installed
TORCH := torch==2.13.0
WORKERS ?= 2
# test processes (pytest-xdist; a file's tests stay in one process, so module fixtures are built once)
TEST_PROCESSES ?= 2

.PHONY: demo test venv clean-demo cp2k

# CP2K (Debian package) is the real DFT code of the integration tests
cp2k:
	@command -v cp2k.psmp >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cp2k cp2k-data >/dev/null; } || \
	  echo "note: cp2k not installed (apt-get install cp2k cp2k-data); its tests will be skipped"

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build first: anything that depends on torch then finds it satisfied
	$(BIN)/python -m pip install --quiet $(TORCH)
	# every extra, at the versions tested together (setup.cfg holds only lower bounds)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,test]'
	$(BIN)/perovflow hook install
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/perovflow db start
	$(BIN)/perovflow run workflows/demo.yaml --workers $(WORKERS) --replace --json runs/demo/summary.json
	$(BIN)/perovflow report demo -o runs/demo/report.html

test: $(STAMP) cp2k
	$(BIN)/python -m pytest -q -ra -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder --durations=25 tests

clean-demo:
	$(BIN)/perovflow db stop
	rm -rf runs/demo
