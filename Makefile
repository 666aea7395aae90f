# Set-up and the main jobs. Every target creates .venv itself on a fresh
# machine with Python 3.11; constraints.txt pins the CPU build of PyTorch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPORT ?= report

.PHONY: run test bench quick verify chromium page-test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[all,test]'
	touch $(STAMP)

# $(REPORT)/index.html is rewritten after every section: open it while the rest
# runs. REPRODUCE_FLAGS passes more options, e.g. REPRODUCE_FLAGS="--force gmm".
run: $(STAMP)
	@echo "writing $(REPORT)/index.html (readable after the first section; rewritten after each one)"
	$(BIN)/collapse-theory reproduce --out $(REPORT) $(REPRODUCE_FLAGS)

quick: $(STAMP)
	@echo "writing $(REPORT)/index.html (readable after the first section; rewritten after each one)"
	$(BIN)/collapse-theory reproduce --quick --out $(REPORT) $(REPRODUCE_FLAGS)

# Every theory function against simulation (p-values, QQ plots in verify/).
verify: $(STAMP)
	$(BIN)/collapse-theory verify --level full --out verify

# The page tests (tests/test_report.py, tests/_browser.py) open the report in
# headless Chromium (Debian's package): captions, clipping, links, no network,
# page height. `make page-test` runs just them, on small fake sections.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: the page tests will be skipped"; \
	    else echo "chromium missing and not root (sudo apt-get install chromium): the page tests will be skipped"; fi; }

page-test: $(STAMP) chromium
	$(BIN)/python -m pytest tests/test_report.py -m "not slow" -s

test: $(STAMP) chromium
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,max,rounds -s

clean:
	rm -rf $(VENV) $(REPORT) verify .pytest_cache .benchmarks .hypothesis
