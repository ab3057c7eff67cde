# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-browser lint bench bench-peer clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,browser]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/actorscope serve --demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest --ignore=tests/browser

# Needs Debian's chromium (apt-get install -y chromium); .ci/run installs it.
test-browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser

lint: $(STAMP)
	$(BIN)/ruff check .
	mkdir -p .lint && ln -sfn .. .lint/actorscope
	MYPYPATH=.lint $(BIN)/mypy -p actorscope.protocol -p actorscope.engine -p actorscope.server -p actorscope.client

bench: $(STAMP)
	$(BIN)/python bench/protocol.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/server.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/checkpoints.py

# Side by side with the real RivetKit server (needs Node.js; npm packages go to a cache).
bench-peer: $(STAMP)
	$(BIN)/python bench/peer/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .lint
