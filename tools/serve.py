"""Serve the built website on this machine: `make serve` (python tools/serve.py).

Opened from file://, the pages work, but the search page lists results without their snippets
(the browser refuses to fetch the pages' text from file:// URLs). Served over http, search shows
a snippet of every hit. Only this machine can connect (127.0.0.1); Ctrl+C stops the server.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # one line per request would bury the URL
        pass

    def do_GET(self):
        # Browsers ask for /favicon.ico on their own; the book has none, and a 404 would show
        # as an error in the browser's console.
        if self.path == "/favicon.ico" and not (Path(self.directory) / "favicon.ico").exists():
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000,
                        help="first port to try (default 8000; the next free one is used)")
    parser.add_argument("--directory", type=Path, default=ROOT / "_build" / "html")
    args = parser.parse_args(argv)
    if not (args.directory / "index.html").exists():
        print(f"error: {args.directory} has no index.html: run `make book` first", file=sys.stderr)
        return 1
    handler = functools.partial(QuietHandler, directory=str(args.directory))
    for port in range(args.port, args.port + 20):
        try:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
            break
        except OSError:
            continue
    else:
        print(f"error: ports {args.port}-{args.port + 19} are all in use; pass --port",
              file=sys.stderr)
        return 1
    where = args.directory.resolve()
    try:
        where = where.relative_to(Path.cwd())
    except ValueError:
        pass
    print(f"Serving {where} at http://127.0.0.1:{server.server_port}/  (Ctrl+C to stop)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
