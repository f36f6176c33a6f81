# The doors into the project. Every target runs `setup` first; setup is quick when nothing changed.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
# The interpreter that creates .venv/: Python 3.11 or newer (`make setup PYTHON=python3.12`).
PYTHON ?= python3
# Set to PyTorch's CPU wheel index (https://download.pytorch.org/whl/cpu) to install torch's CPU
# build instead of the CUDA one that PyPI serves on Linux (see README).
TORCH_INDEX ?=

.PHONY: help setup lab serve lint test test-engine test-notebooks book bench bench-record figures student grade check gradescope canvas report book-students pdf clean

help:
	@echo "make book           build the website into _build/html (offline, warnings are errors)"
	@echo "make serve          serve _build/html on http://127.0.0.1:8000/ (search shows snippets)"
	@echo "make lab            JupyterLab on the chapters (MyST rendered, solutions folded)"
	@echo "make test           lint, engine tests, notebook validation (nbval), website checks"
	@echo "make bench          benchmarks: dagprop vs micrograd, torch and hand-fused numpy"
	@echo "                    (results in _build/bench/results.md; git status stays clean)"
	@echo "make bench-record   the same, written to benchmarks/results.md to be committed"
	@echo "make figures        regenerate the figures in img/ from code"
	@echo "make student        write the student release of the assignments to _build/student/"
	@echo "make grade SUBMISSIONS=PATH   grade a notebook or a folder of notebooks"
	@echo "make check NOTEBOOK=PATH      (students) run the public tests as the grader would"
	@echo "make gradescope     one Gradescope autograder zip per assignment in _build/gradescope/"
	@echo "make canvas ROSTER=PATH       Canvas gradebook CSV from _build/grades and a roster"
	@echo "make report         class report _build/grades/report.html"
	@echo "make book-students  build the website without exercise solutions"
	@echo "make pdf            the PDF edition: _build/pdf/backprop-in-dags.pdf (also copied into the website)"
	@echo "make setup          create .venv/ and install everything (every target calls it);"
	@echo "                    PYTHON=python3.12 picks the interpreter (3.11+), TORCH_INDEX= torch's CPU wheels"

setup: $(STAMP)
	@tools/ensure-system.sh dot graphviz

$(STAMP): requirements.txt code/pyproject.toml
	@tools/check-python.sh "$$(test -x $(PY) && echo $(PY) || echo $(PYTHON))"
	@test -x $(PY) || { echo "Creating $(VENV)/ with $(PYTHON) and installing the pinned packages:" \
	  "about 1.7 GB, a minute or more (pip is quiet meanwhile)."; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install -q "$$(grep -E '^torch==' requirements.txt)" --index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check code tests benchmarks tools assignments/tests

# --- tests (owned pieces: engine tests, notebooks, website, coursework) ---
# The website is built from the stored outputs first, so tests/test_website.py checks it in Chromium.
test: setup lint book book-students pdf
	@tools/ensure-system.sh chromium chromium
	$(BIN)/pytest -q tests
	$(MAKE) --no-print-directory test-notebooks

# Strict nbval: every stored output must match a fresh run (tests/nbval_sanitize.cfg blanks out
# addresses and timings; chapters/conftest.py leaves Graphviz SVG out). Two notebooks at a time.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
test-notebooks: setup
	$(BIN)/pytest -q -p no:cacheprovider $(NBVAL) -n 2 --dist loadscope --durations=5 chapters assignments/*.ipynb

# --- the website ---
# -q: warnings and errors only, not the configuration dump of every build.
book: setup
	$(BIN)/jupyter-book build -q --warningiserror --keep-going .

# Search needs http: from file:// the search page lists its hits without snippets.
serve: setup
	$(PY) tools/serve.py

# --- running the notebooks ---
# JupyterLab on localhost with a token (it prints the URL; no browser is opened).
lab: setup
	$(PY) tools/lab.py

# The PDF edition: one HTML page of the whole course printed by Debian's Chromium (tools/build_pdf.py),
# then copied next to the website's pages, where the introduction links to it.
pdf: setup
	@tools/ensure-system.sh chromium chromium
	@tools/ensure-system.sh pdftotext poppler-utils
	$(PY) tools/build_pdf.py
	@mkdir -p _build/html && cp _build/pdf/backprop-in-dags.pdf _build/html/

figures: setup
	$(PY) tools/make_figures.py

# --- benchmarks ---
bench: setup
	$(PY) -m pip install -q -r benchmarks/requirements.txt
	$(PY) benchmarks/run.py

bench-record: setup
	$(PY) -m pip install -q -r benchmarks/requirements.txt
	$(PY) benchmarks/run.py --record

# --- coursework ---
student: setup
	$(PY) tools/coursework/coursework.py student --out _build/student

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/notebook-or-folder"; exit 2; }
	$(PY) tools/coursework/coursework.py grade "$(SUBMISSIONS)" --out _build/grades $(if $(SEED),--seed $(SEED))

check: setup
	@test -n "$(NOTEBOOK)" || { echo "usage: make check NOTEBOOK=path/to/notebook.ipynb"; exit 2; }
	$(PY) tools/coursework/coursework.py check "$(NOTEBOOK)"

gradescope: setup
	$(PY) tools/coursework/coursework.py gradescope --out _build/gradescope

canvas: setup
	@test -n "$(ROSTER)" || { echo "usage: make canvas ROSTER=roster.csv (Student, ID, ..., submission)"; exit 2; }
	$(PY) tools/coursework/coursework.py canvas --roster "$(ROSTER)" --grades _build/grades

report: setup
	$(PY) tools/coursework/coursework.py report --grades _build/grades

book-students: setup
	$(PY) tools/build_students_book.py

clean:
	rm -rf _build
