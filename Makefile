# The doors into the project. Every target runs `setup` first; setup is quick when nothing changed.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup book test bench figures lint student grade book-students clean help

help:
	@echo "make book      build the website into _build/html (offline, warnings are errors)"
	@echo "make test      lint, engine tests, notebook validation (nbval), website checks"
	@echo "make bench     benchmarks: dagprop vs micrograd, torch and hand-fused numpy"
	@echo "make figures   regenerate img/ from code"
	@echo "make setup     create .venv/ and install everything (called by every target)"

setup: $(STAMP)
	@tools/ensure-system.sh dot graphviz

$(STAMP): requirements.txt code/pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check code tests benchmarks tools

test: setup lint
	$(BIN)/pytest -q tests

bench: setup
	$(PY) -m pip install -q -r benchmarks/requirements.txt
	$(PY) benchmarks/run.py

figures: setup
	$(PY) tools/make_figures.py

book: setup
	$(BIN)/jupyter-book build --warningiserror --keep-going . 

clean:
	rm -rf _build
