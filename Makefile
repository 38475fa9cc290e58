# The commands people actually run. Each target creates .venv on first use.
PY      ?= python3.11
VENV    ?= .venv
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed

.PHONY: demo det-demo test install clean demo-weights readme

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/uqvit demo

det-demo: $(STAMP)
	$(BIN)/uqvit det-demo

# retrain the shipped digits ViT (uqvit/assets/); then update DEMO_WEIGHTS_SHA256 and rerun make demo
demo-weights: $(STAMP)
	$(BIN)/python -c "from uqvit.models import write_demo_weights; write_demo_weights()"

# rewrite the README's result tables from reports/*.json (after uqvit demo / uqvit report)
readme: $(STAMP)
	$(BIN)/uqvit readme

test: $(STAMP)
	$(BIN)/uqvit report --check
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
