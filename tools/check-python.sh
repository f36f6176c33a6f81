#!/usr/bin/env bash
# Usage: tools/check-python.sh PYTHON
# Stops `make setup` at once, with what to do, when PYTHON is missing or older than the course
# needs (numpy 2.4 and other pins in requirements.txt need Python 3.11 or newer; with an older
# interpreter pip fails deep inside the install).
set -u
py=${1:-python3}
need_major=3 need_minor=11
if ! version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
  echo "error: '$py' does not run; the course needs Python $need_major.$need_minor or newer." >&2
  echo "Install one and pass it to make, e.g.:  make setup PYTHON=python3.12" >&2
  exit 1
fi
major=${version%%.*} minor=${version#*.}
if [ "$major" -lt "$need_major" ] || { [ "$major" -eq "$need_major" ] && [ "$minor" -lt "$need_minor" ]; }; then
  echo "error: '$py' is Python $version; the course needs Python $need_major.$need_minor or newer" >&2
  echo "(numpy 2.4 and other pinned packages in requirements.txt)." >&2
  case "$py" in
    */.venv/bin/python*|.venv/bin/python*)
      echo "The existing .venv/ was made with it: remove it (rm -rf .venv) and run, e.g.," >&2 ;;
    *) echo "Install a newer Python and pick it with PYTHON, e.g." >&2 ;;
  esac
  echo "  make setup PYTHON=python3.12" >&2
  exit 1
fi
