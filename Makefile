# Two commands (see README):  make run   -- the main job;   make test -- the tests.
# Each creates .venv with the pinned requirements on first use (needs Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= full
FORCE  ?=

.PHONY: run test setup check strip clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	@touch $@

setup: $(STAMP)

## main job: every notebook in order (re-using committed outputs unless FORCE=1)
run: $(STAMP)
	$(BIN)/python -m helpers.notebooks run --profile $(PROFILE) $(if $(FORCE),--force,)

## tests: pytest for helpers/ + papermill runs of every notebook (quick profile), on two
## workers, one test file per worker at a time (the chained notebook runs stay in order)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

check: $(STAMP)
	$(BIN)/python -m helpers.notebooks check

## strip outputs from the notebooks before committing
strip: $(STAMP)
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:
	rm -rf build
