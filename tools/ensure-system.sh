#!/usr/bin/env bash
# Usage: tools/ensure-system.sh COMMAND DEBIAN_PACKAGE...
# Makes sure COMMAND is on PATH: installs the Debian packages with apt-get when we can
# (root, or passwordless sudo), otherwise stops with a message that says what to install.
set -euo pipefail
cmd=$1; shift
command -v "$cmd" >/dev/null 2>&1 && exit 0
echo "'$cmd' is missing; installing Debian package(s): $*" >&2
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
  if [ "$SUDO" != none ]; then
    $SUDO apt-get update -q >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" >/dev/null
    command -v "$cmd" >/dev/null 2>&1 && exit 0
  fi
fi
cat >&2 <<MSG
error: '$cmd' is required but could not be installed automatically.
Install it yourself, then run make again:
  Debian/Ubuntu:  sudo apt-get install $*
  macOS:          brew install $( [ "$cmd" = dot ] && echo graphviz || echo --cask chromium )
  conda:          conda install -c conda-forge $( [ "$cmd" = dot ] && echo graphviz || echo chromium )
MSG
exit 1
