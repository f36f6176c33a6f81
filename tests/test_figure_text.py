"""Every label in every figure of a chapter is readable where the page shows it.

Run after `make book`. Each chapter page of _build/html is opened in headless Chromium at 1400 px
wide, every folded part (hidden code, solutions) is opened, and every figure is measured; then the
same page is narrowed to a phone's 375 px and measured again (there a figure too wide for the
column keeps a legible size and scrolls sideways in its own frame: tools/book_static/course.js).
What is measured: SVG images
(Graphviz drawings, matplotlib's SVG outputs, the SVG files of img/), inline SVG, and the frames of
matplotlib animations. A text element's rendered size is its font size times the scale from the
SVG's user units to screen pixels, times the scale at which the page shows the image (displayed
width / intrinsic width). Nothing may come out under 12 CSS px (9 pt).

Raster figures (PNG, JPEG) cannot be measured, so a chapter page may not have any, unless it is
listed in ALLOWED_RASTER with a reason.

    python tests/test_figure_text.py       # prints the smallest text of every figure, page by page

Outside CI the checks skip when Chromium or the built website is missing; with CI=true they fail.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from website_helpers import CHROMIUM_FLAGS, HTML, IN_CI, PAGES, launched_browser  # noqa: E402

MIN_PX = 12.0        # 9 pt: the smallest text a reader should have to read
WIDTH_PX = 1400      # a laptop-sized window
PHONE_PX = 375       # a phone
WIDTHS = (WIDTH_PX, PHONE_PX)
CHAPTERS = [p for p in PAGES if p.startswith("chapters/")]

# {page: reason} for pages allowed to show raster figures. Keep it empty: draw SVG with dp.style.use().
ALLOWED_RASTER: dict[str, str] = {}

# Open every fold (hidden input, hidden output, solutions) so that each figure has its page width.
_UNFOLD = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  document.querySelectorAll('.dropdown').forEach(e => e.classList.add('toggle-shown'));
}"""

# The figures of the page: images (with where they come from and how wide they are shown) and
# inline SVG (measured where it stands).
_FIGURES = r"""() => {
  const main = document.querySelector('main') || document.body;
  const label = el => {
    const fig = el.closest('figure');
    const cap = fig && fig.querySelector('figcaption');
    const cell = el.closest('.cell');
    const prev = cell ? cell.querySelector('.cell_input pre') : null;
    const text = cap ? cap.textContent : (prev ? prev.textContent : '');
    return text.trim().replace(/\s+/g, ' ').slice(0, 60);
  };
  const imgs = Array.from(main.querySelectorAll('img')).map((img, k) => {
    img.dataset.figureIndex = k;
    const r = img.getBoundingClientRect();
    return {index: k, src: img.currentSrc || img.src, id: img.id || '',
            width: r.width, natural: img.naturalWidth, label: label(img),
            animation: !!img.closest('div.animation')};
  });
  return imgs;
}"""

# Rendered font sizes (px) of the text elements of one SVG document or element.
_TEXT_SIZES_JS = r"""
function textSizes(svg) {
  const out = [];
  svg.querySelectorAll('text, tspan').forEach(t => {
    const own = Array.from(t.childNodes).filter(n => n.nodeType === 3)
                     .map(n => n.textContent).join('').trim();
    if (!own) return;
    const m = t.getScreenCTM();
    if (!m) return;
    const scale = Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
    const size = parseFloat(getComputedStyle(t).fontSize) * scale;
    out.push({text: own.slice(0, 30), px: size});
  });
  return out;
}
"""

# Puts an SVG document into the page at its intrinsic size and measures it, scaled to `shown` px.
_MEASURE_DOC = r"""({svgText, shown}) => {
""" + _TEXT_SIZES_JS + r"""
  const host = document.createElement('div');
  host.style.cssText = 'position:absolute; left:-20000px; top:0; visibility:hidden;';
  host.innerHTML = svgText.replace(/^[\s\S]*?(<svg\b)/, '$1');
  document.body.appendChild(host);
  const svg = host.querySelector('svg');
  const intrinsic = svg.getBoundingClientRect().width;
  const sizes = textSizes(svg).map(s => ({text: s.text, px: s.px * shown / intrinsic}));
  host.remove();
  return {intrinsic, sizes};
}
"""

_MEASURE_INLINE = r"""() => {
""" + _TEXT_SIZES_JS + r"""
  const main = document.querySelector('main') || document.body;
  return Array.from(main.querySelectorAll('svg'))
    .filter(s => !s.parentElement.closest('svg') && s.querySelector('text'))
    .filter(s => !s.closest('mjx-container'))
    .map((s, k) => ({index: k, sizes: textSizes(s), width: s.getBoundingClientRect().width}));
}
"""

_RASTER_DATA = re.compile(r"^data:image/(png|jpe?g|gif|webp)", re.IGNORECASE)
_SVG_DATA = re.compile(r"^data:image/svg\+xml(;base64)?,", re.IGNORECASE)


def _svg_text(src: str) -> str | None:
    """The SVG markup behind an image source, or None if it is not SVG."""
    m = _SVG_DATA.match(src)
    if m:
        body = src[m.end():]
        return base64.b64decode(body).decode("utf-8") if m.group(1) else unquote(body)
    url = urlparse(src)
    if url.scheme == "file" and url.path.lower().endswith(".svg"):
        return Path(unquote(url.path)).read_text(encoding="utf-8")
    return None


def _is_raster(src: str) -> bool:
    if _RASTER_DATA.match(src):
        return True
    return bool(re.search(r"\.(png|jpe?g|gif|webp)$", urlparse(src).path, re.IGNORECASE))


def _animation_frames(html: str) -> dict[str, list[str]]:
    """{img id: its frames' data URIs} of the matplotlib (jshtml) animations of a page."""
    found = {}
    for block in re.split(r'(?=var img_id = ")', html)[1:]:
        img_id = re.match(r'var img_id = "([^"]+)"', block).group(1)
        found[img_id] = re.findall(r'frames\[\d+\] = "(data:image/[^"]+)"', block)
    return found


def _name(item: dict) -> str:
    what = "animation" if item.get("animation") else "image"
    src = item["src"]
    short = src[:40] + "..." if src.startswith("data:") else Path(urlparse(src).path).name
    return f"{what} #{item['index']} ({short}; {item['label']!r})"


def measure_page(tab, page: str) -> tuple[list[dict], list[str]]:
    """Every figure of the open page with its smallest text: ([{figure, px, text}], [raster])."""
    tab.evaluate(_UNFOLD)
    tab.wait_for_timeout(50)
    html = (HTML / f"{page}.html").read_text(encoding="utf-8")
    frames = _animation_frames(html)
    results, raster = [], []
    for item in tab.evaluate(_FIGURES):
        src = item["src"]
        if "/_static/" in src or not src and not item["animation"]:
            continue  # the theme's own icons and logos
        sources = frames.get(item["id"], [src]) if item["animation"] else [src]
        if item["width"] <= 0:
            results.append(dict(figure=_name(item), px=0.0, text="(not displayed)"))
            continue
        smallest = None
        for k, s in enumerate(sources):
            if _is_raster(s):
                raster.append(_name(item) + (f" frame {k}" if item["animation"] else ""))
                break
            svg = _svg_text(s)
            if svg is None:
                continue
            got = tab.evaluate(_MEASURE_DOC, {"svgText": svg, "shown": item["width"]})
            for size in got["sizes"]:
                if smallest is None or size["px"] < smallest["px"]:
                    smallest = dict(size, frame=k)
        if smallest is not None:
            text = smallest["text"] + (f" (frame {smallest['frame']})" if item["animation"] else "")
            results.append(dict(figure=_name(item), px=smallest["px"], text=text))
    for item in tab.evaluate(_MEASURE_INLINE):
        if item["sizes"]:
            s = min(item["sizes"], key=lambda s: s["px"])
            results.append(dict(figure=f"inline svg #{item['index']}", px=s["px"], text=s["text"]))
    return results, raster


# --- in Chromium ---

@pytest.fixture(scope="module")
def browser():
    with launched_browser() as b:
        if not (HTML / "index.html").exists():
            if IN_CI:
                pytest.fail("_build/html is missing: run `make book` before the figure checks")
            pytest.skip("the website is not built: run `make book` first")
        yield b


def _open(browser, page: str):
    path = HTML / f"{page}.html"
    assert path.exists(), f"{page}.html was not built: run `make book`"
    context = browser.new_context(viewport={"width": WIDTH_PX, "height": 900})
    tab = context.new_page()
    tab.goto(path.as_uri(), wait_until="load")
    return context, tab


def measure_widths(tab, page: str) -> dict[int, tuple[list[dict], list[str]]]:
    """measure_page at 1400 px, then at 375 px in the same tab (one load of the page)."""
    found = {}
    for width in WIDTHS:
        if width != WIDTH_PX:
            tab.set_viewport_size({"width": width, "height": 812})
            tab.wait_for_timeout(400)  # course.js lays the figures out again after a resize
        found[width] = measure_page(tab, page)
    return found


def _problems(results, raster, page) -> list[str]:
    small = [r for r in results if r["px"] < MIN_PX - 0.05]
    problems = [f"  {r['figure']}: smallest text {r['px']:.1f} px ({r['text']!r})" for r in small]
    if raster and page not in ALLOWED_RASTER:
        problems += [f"  {r}: raster image, its text cannot be measured (draw it as SVG: "
                     "dp.style.use(); animations: plt.rcParams['animation.frame_format'] = 'svg')"
                     for r in raster]
    return problems


@pytest.mark.parametrize("page", CHAPTERS)
def test_figure_text_is_at_least_12px_at_1400px_and_375px(browser, page):
    context, tab = _open(browser, page)
    try:
        found = measure_widths(tab, page)
    finally:
        context.close()
    report = []
    for width, (results, raster) in found.items():
        problems = _problems(results, raster, page)
        if problems:
            report += [f"at {width} px wide:"] + problems
    assert not report, (
        f"{page}: figure text under {MIN_PX:g} px, or raster figures:\n" + "\n".join(report))
    assert len(found[PHONE_PX][0]) == len(found[WIDTH_PX][0]), (
        f"{page}: not every figure measured at {WIDTH_PX} px was measured at {PHONE_PX} px")


def test_measurement_catches_small_text_and_scaling(browser):
    """The measurement itself: a 9 pt label at natural size passes, shrunk to half it fails."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="200pt" height="50pt" '
           'viewBox="0 0 200 50"><g transform="scale(1 1)"><text x="5" y="20" '
           'font-size="9">nine points</text></g></svg>')
    context = browser.new_context(viewport={"width": WIDTH_PX, "height": 900})
    tab = context.new_page()
    try:
        tab.set_content("<html><body></body></html>")
        natural = tab.evaluate(_MEASURE_DOC, {"svgText": svg, "shown": 200 * 4 / 3})
        half = tab.evaluate(_MEASURE_DOC, {"svgText": svg, "shown": 100 * 4 / 3})
    finally:
        context.close()
    assert natural["sizes"][0]["px"] == pytest.approx(12.0, abs=0.01)
    assert half["sizes"][0]["px"] == pytest.approx(6.0, abs=0.01)


def test_the_build_reads_the_smallest_label_of_an_svg():
    """tools/book_offline.py writes data-text-px, which course.js uses to shrink a figure on a
    phone no further than 12 px labels: points, viewBox scaling and scale transforms count."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    from book_offline import smallest_text_px

    graphviz = ('<svg xmlns="http://www.w3.org/2000/svg" width="300pt" height="100pt" '
                'viewBox="0 0 600 200"><g transform="scale(1 1) rotate(0) translate(4 196)">'
                '<text font-size="14.00">a</text><g transform="scale(0.5)">'
                '<text font-size="20">b</text></g></g></svg>')
    # 300 pt = 400 px for 600 user units: 14 units -> 9.33 px; 20 * 0.5 units -> 6.67 px
    assert smallest_text_px(graphviz) == pytest.approx(20 * 0.5 * 400 / 600)
    matplotlib = ('<svg xmlns="http://www.w3.org/2000/svg" width="100pt" height="50pt" '
                  'viewBox="0 0 100 50"><text style="font-size: 10px; font-family: sans-serif" '
                  'transform="rotate(-90 5 5)">10</text><text style="font-size: 12px"> </text>'
                  '</svg>')
    assert smallest_text_px(matplotlib) == pytest.approx(10 * 4 / 3)
    assert smallest_text_px('<svg xmlns="http://www.w3.org/2000/svg"/>') is None


def main() -> None:
    """Print the smallest text of every figure on every chapter page, at 1400 px and at 375 px."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        for page in CHAPTERS:
            context, tab = _open(b, page)
            found = measure_widths(tab, page)
            context.close()
            for width, (results, raster) in found.items():
                worst = min((r["px"] for r in results), default=float("nan"))
                print(f"{page} at {width} px: {len(results)} measured figures, smallest text "
                      f"{worst:.1f} px, {len(raster)} raster")
                for r in results:
                    flag = "  " if r["px"] >= MIN_PX - 0.05 else "!!"
                    print(f"  {flag} {r['px']:5.1f} px  {r['figure']}  {r['text']!r}")
                for r in raster:
                    print(f"  !! raster  {r}")
        b.close()


if __name__ == "__main__":
    main()
