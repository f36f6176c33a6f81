"""Start JupyterLab on the course's notebooks: `make lab` (python tools/lab.py).

JupyterLab listens on this machine only (localhost) and asks for the token in the URL it prints,
so other users of the machine cannot open your notebooks; no browser is opened (open the printed
URL yourself, or copy it from the terminal). jupyterlab-myst renders the chapters' MyST markup
(equations, {eq} and {doc} references, figures, margin notes, exercises). The course's stylesheet
tools/jupyterlab/custom.css hides the first line that JupyterLab shows of a folded cell, so a
folded solution (tools/clean_notebooks.py folds them) shows nothing of the answer until opened.

    python tools/lab.py [--root DIR] [--port N] [any other `jupyter lab` option]

The server's root is the repository (the chapters' figures are in ../img), and the URL opens its
chapters/ folder.

Your own JupyterLab settings and workspaces are used as usual. The stylesheet is loaded from a
copy in .venv/etc/course-jupyter/ (JupyterLab reads custom CSS from its configuration folder, so
`make lab` points that folder there for this server only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CUSTOM_CSS = Path(__file__).resolve().parent / "jupyterlab" / "custom.css"


def command(root: Path, port: int, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The `jupyter lab` command line and its environment."""
    from jupyter_core.paths import jupyter_config_dir
    from jupyterlab.commands import get_user_settings_dir, get_workspaces_dir

    config = Path(sys.prefix) / "etc" / "course-jupyter"
    (config / "custom").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CUSTOM_CSS, config / "custom" / "custom.css")
    # The user's own server configuration (jupyter_server_config.*) still applies.
    # Settings and workspaces stay where they are (they normally live in the configuration folder).
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config),
               JUPYTERLAB_SETTINGS_DIR=get_user_settings_dir(),
               JUPYTERLAB_WORKSPACES_DIR=get_workspaces_dir(),
               JUPYTER_CONFIG_PATH=os.pathsep.join(
                   p for p in [jupyter_config_dir(), os.environ.get("JUPYTER_CONFIG_PATH", "")] if p))
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser",
           f"--ServerApp.root_dir={root}", "--LabApp.default_url=/lab/tree/chapters",
           f"--ServerApp.port={port}",
           "--ServerApp.ip=localhost", "--LabApp.custom_css=True",
           "--ServerApp.log_level=WARN"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root
    return cmd + extra, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the folder served (default: the repository); it opens on chapters/")
    parser.add_argument("--port", type=int, default=8888,
                        help="first port to try (default 8888; JupyterLab moves on if it is taken)")
    args, extra = parser.parse_known_args(argv)
    cmd, env = command(args.root.resolve(), args.port, extra)
    print("Starting JupyterLab on the chapters; open the http://localhost:... URL it prints "
          "(with its token). Ctrl+C stops it.", flush=True)
    os.execvpe(cmd[0], cmd, env)


if __name__ == "__main__":
    sys.exit(main())
