"""Build the PDF edition: `make pdf` writes _build/pdf/backprop-in-dags.pdf, offline.

1. Jupyter Book builds the whole course as one HTML page (Sphinx's ``singlehtml`` builder) from the
   notebooks' stored outputs, with a copy of _config.yml under _build/pdf/ that adds
   tools/pdf_edition.py.
2. Debian's Chromium, driven by playwright (no browser download), opens that page, waits until the
   local MathJax has typeset every equation, adds a table of contents, opens every folded box (the
   solutions and hidden code), and prints it to A4 with page numbers and a PDF outline.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "pdf"
PDF_NAME = "backprop-in-dags.pdf"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# Print layout: the text only (no sidebars, buttons or launch links), each chapter on a new page,
# figures and code boxes kept whole where they fit, long lines of code wrapped instead of cut.
PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer, .bd-footer-article,
.header-article, .prev-next-area, .headerlink, .skip-link, #pst-back-to-top, .toggle-button,
.anim-buttons, .anim-state, input[type=range], .copybtn, .bd-header-announcement,
details.hide.above-input,
#jb-print-toc { display: none !important; }
#jb-print-docs-body h1 { font-size: 2.4em; margin: 2em 0 1em; }
.bd-content, .bd-article-container, .bd-article { margin: 0 !important; padding: 0 !important; }
.bd-main, .bd-content, .bd-article-container, .bd-page-width {
  max-width: 100% !important; width: 100% !important; }
body { font-size: 11pt; }
div.toctree-wrapper > section { break-before: page; }
#pdf-toc { break-after: page; }
figure, .cell_output img, .cell_output svg, table, mjx-container[display] { break-inside: avoid; }
.cell_input, .cell_output { break-inside: avoid; }  /* a code box starts on the page it fits */
div.highlight pre, .output pre { white-space: pre-wrap !important; word-break: break-word; }
.margin, .sidebar { float: none !important; width: auto !important; margin: 0.5em 0 !important; }
#pdf-toc ol { list-style: none; padding-left: 0; }
#pdf-toc ol ol { padding-left: 1.5em; }
#pdf-toc a { text-decoration: none; color: inherit; }
"""

# A contents page from the chapters' titles and their sections, right under the course's title;
# its links become internal links of the PDF.
TOC_SCRIPT = """
() => {
  const chapters = [...document.querySelectorAll('div.toctree-wrapper > section')];
  const text = (h) => h.textContent.replace(/#$/, '').trim();
  const anchor = (el, id) => {
    const a = document.createElement('span');
    a.id = id;
    el.parentNode.insertBefore(a, el);
    return '#' + id;
  };
  const toc = document.createElement('nav');
  toc.id = 'pdf-toc';
  toc.setAttribute('aria-label', 'Contents');
  toc.innerHTML = '<h2>Contents</h2>';
  const list = document.createElement('ol');
  chapters.forEach((chapter, i) => {
    const h = chapter.querySelector(':scope > h2');
    if (!h) return;
    const item = document.createElement('li');
    item.innerHTML = `<a href="${anchor(h, 'pdf-ch' + i)}">${text(h)}</a>`;
    const sub = document.createElement('ol');
    chapter.querySelectorAll(':scope > section > h3').forEach((h3, j) => {
      const li = document.createElement('li');
      li.innerHTML = `<a href="${anchor(h3, 'pdf-ch' + i + '-' + j)}">${text(h3)}</a>`;
      sub.appendChild(li);
    });
    if (sub.children.length) item.appendChild(sub);
    list.appendChild(item);
  });
  toc.appendChild(list);
  // The theme prints the course's title once, above the first page; the contents go under it.
  const title = document.querySelector('#jb-print-docs-body h1');
  if (title) title.parentNode.insertBefore(toc, title.nextSibling);
  // Folded outputs and solutions print open; folded plotting code stays out of the PDF.
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  return chapters.length;
}
"""

FOOTER = ('<div style="font-size:9px;width:100%;text-align:center;color:#555;">'
          '<span class="title"></span> &middot; page <span class="pageNumber"></span> of '
          '<span class="totalPages"></span></div>')


def build_html() -> Path:
    """The course as one HTML page; returns its path."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    local = dict(config["sphinx"].get("local_extensions") or {}, pdf_edition="tools/")
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path) for name, path in local.items()}
    config["sphinx"]["config"].setdefault("extensions", []).append("pdf_edition")
    OUT.mkdir(parents=True, exist_ok=True)
    cfg = OUT / "_config.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", "--builder", "singlehtml",
           "--warningiserror", "--keep-going", "--quiet", "--config", str(cfg), "--path-output",
           str(OUT), str(ROOT)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    page = OUT / "_build" / "singlehtml" / "index.html"
    if not page.exists():
        raise SystemExit(f"the single-page build did not write {page}")
    return page


def print_pdf(page: Path, pdf: Path) -> int:
    """Print the single page to ``pdf`` with Chromium; returns the number of chapters found."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 680, "height": 1000})
            tab.goto(page.as_uri(), wait_until="load")
            # MathJax 3 resolves startup.promise once the page is typeset.
            tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise",
                                  timeout=60_000)
            tab.evaluate("MathJax.startup.promise")
            tab.add_style_tag(content=PRINT_CSS)
            chapters = tab.evaluate(TOC_SCRIPT)
            tab.emulate_media(media="print")
            tab.pdf(path=str(pdf), format="A4", print_background=True, outline=True, tagged=True,
                    display_header_footer=True, header_template="<span></span>",
                    footer_template=FOOTER,
                    margin={"top": "18mm", "bottom": "20mm", "left": "16mm", "right": "16mm"})
        finally:
            browser.close()
    return chapters


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT / PDF_NAME, help="where to write the PDF")
    args = parser.parse_args(argv)
    page = build_html()
    chapters = print_pdf(page, args.out)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
          f"({args.out.stat().st_size / 1e6:.1f} MB, the introduction and {chapters} chapters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
