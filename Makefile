# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out/demo
SAMPLES := data/samples/calls.jsonl data/samples/calls.txt data/samples/survey.csv

.PHONY: install run test lint typecheck pytest clean

install: $(STAMP)

# Reinstall whenever the dependency list changes. Every pip call goes through constraints.txt so
# that no dependency can replace the pinned CPU torch with a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train,dev,postgres]'
	touch $(STAMP)

run: install
	$(BIN)/kesheng analyze $(SAMPLES) --out $(OUT)
	@echo "starting the HTTP service with the demo sample queued (data in $(OUT)/service); a new admin key:"
	@$(BIN)/kesheng keys create --role admin --name make-run --data-dir $(OUT)/service 2>/dev/null
	@echo "try: curl -H 'X-API-Key: <key>' 'http://127.0.0.1:8000/v1/heatmap?dimension=tier'  (Ctrl-C stops)"
	$(BIN)/kesheng serve --data-dir $(OUT)/service $(SAMPLES)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache *.egg-info
