"""The built website works offline, as a reader sees it in a browser.

Run after `make book`. Each page listed in _toc.yml is opened from _build/html in headless
Chromium, which checks that the math is typeset by the local MathJax, that every image is local
and loads, that no request leaves file://, that margin notes and animations are on the pages whose
notebooks have them, and that the console stays free of errors. A full-page screenshot of every
page is saved under _build/screenshots/ for a person to look at.

Outside CI the browser checks skip when Chromium or the built website is missing; with CI=true
they fail instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from website_helpers import HTML, IN_CI, PAGES, ROOT, SHOTS, launched_browser

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def _source(page: str) -> Path | None:
    for suffix in (".ipynb", ".md"):
        if (ROOT / (page + suffix)).exists():
            return ROOT / (page + suffix)
    return None


def _markdown_and_html(page: str) -> tuple[str, str]:
    """All markdown text and all stored HTML output of a page's source."""
    path = _source(page)
    if path is None:
        return "", ""
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8"), ""
    nb = json.loads(path.read_text(encoding="utf-8"))
    markdown, html = [], []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            markdown.append("".join(cell["source"]))
        for out in cell.get("outputs", []):
            data = out.get("data", {}).get("text/html", "")
            html.append(data if isinstance(data, str) else "".join(data))
    return "\n".join(markdown), "\n".join(html)


def _expected_margins(page: str) -> int:
    markdown, _ = _markdown_and_html(page)
    return len(re.findall(r"^\s*(?:`{3,}|:{3,})\s*\{margin\}", markdown, re.MULTILINE))


def _expected_animations(page: str) -> int:
    _, html = _markdown_and_html(page)
    return html.count('<div class="animation"')


# --- without a browser: every page's scripts and stylesheets come from the website itself ---

_ASSET = re.compile(r"<(script|link)\b[^>]*?\b(src|href)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)


def _built_pages() -> list[Path]:
    if not (HTML / "index.html").exists():
        if IN_CI:
            pytest.fail("_build/html is missing: run `make book` before the website checks")
        pytest.skip("the website is not built: run `make book` first")
    return sorted(HTML.rglob("*.html"))


def test_every_toc_page_is_built():
    _built_pages()
    for page in PAGES:
        assert (HTML / f"{page}.html").exists(), f"{page}.html was not built: run `make book`"


def test_no_page_loads_a_script_or_stylesheet_from_another_host():
    remote = []
    for path in _built_pages():
        for tag, _, url in _ASSET.findall(path.read_text(encoding="utf-8", errors="replace")):
            if re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.IGNORECASE) and not url.startswith(
                    LOCAL_SCHEMES):
                remote.append(f"{path.relative_to(HTML)}: <{tag}> {url}")
    assert not remote, "pages load assets from other hosts:\n" + "\n".join(remote)


def test_mathjax_is_served_from_static():
    _built_pages()
    mathjax = HTML / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.exists(), "the local MathJax was not copied to _static/mathjax"
    for page in PAGES:
        text = (HTML / f"{page}.html").read_text(encoding="utf-8")
        if 'class="math' in text:
            assert re.search(r'<script[^>]+src="(\.\./)*_static/mathjax/tex-chtml\.js(\?[^"]*)?"', text), (
                f"{page}.html has math but does not load _static/mathjax/tex-chtml.js")


# The chapters that teach with an animation; their stored outputs must keep it.
ANIMATED = ["chapters/01_loss_surfaces", "chapters/02_backprop_dags"]


@pytest.mark.parametrize("page", ANIMATED)
def test_animated_chapters_store_their_animation(page):
    assert _expected_animations(page) >= 1, (
        f"{page}.ipynb has no stored matplotlib animation (HTML(anim.to_jshtml()) output)")


def test_build_drops_the_cdn_stylesheet_of_matplotlib_animations(caplog):
    import importlib.util

    spec = importlib.util.spec_from_file_location("book_offline", ROOT / "tools" / "book_offline.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    fa = ('<link rel="stylesheet"\nhref="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/'
          'font-awesome.min.css">\n<div class="animation">')
    context = {"body": fa}
    ext.strip_remote_assets(None, "p", "page.html", context, None)
    assert context["body"] == '<div class="animation">'

    context = {"body": '<script src="https://cdn.example.org/x.js"></script>'}
    with caplog.at_level("WARNING"):
        ext.strip_remote_assets(None, "p", "page.html", context, None)
    assert "https://cdn.example.org/x.js" in caplog.text


# --- in Chromium ---

@pytest.fixture(scope="module")
def browser():
    _built_pages()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with launched_browser() as b:  # a fresh temporary profile every time
        yield b


# Text a reader sees, without code blocks and typeset math: raw TeX left here was not typeset.
_VISIBLE_PROSE = """() => {
  const body = document.querySelector('main') || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .output')
      .forEach(e => e.remove());
  return copy.textContent;
}"""

_LOAD_IMAGES = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
}"""

_RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\(frac|mathcal|mathbf|partial|sum|nabla|begin)\b")


@pytest.fixture(params=PAGES, ids=PAGES)
def page(request, browser):
    name = request.param
    path = HTML / f"{name}.html"
    assert path.exists(), f"{name}.html was not built: run `make book`"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    log = {"requests": [], "errors": [], "failed": []}
    tab.on("request", lambda r: log["requests"].append(r.url))
    tab.on("requestfailed", lambda r: log["failed"].append(f"{r.url} ({r.failure})"))
    tab.on("console", lambda m: m.type == "error" and log["errors"].append(m.text))
    tab.on("pageerror", lambda e: log["errors"].append(f"uncaught: {e}"))
    tab.goto(path.as_uri(), wait_until="load")
    tab.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    # Everything is local, so "load" plus MathJax and image decoding is the whole wait
    # ("networkidle" never comes on a page whose animation swaps frames).
    tab.evaluate(_LOAD_IMAGES)
    # The page as a reader first sees it, before the test clicks anything.
    tab.screenshot(path=str(SHOTS / (name.replace("/", "__") + ".png")), full_page=True)
    yield name, tab, log
    context.close()


def test_page_in_browser(page):
    name, tab, log = page

    # Math: every math element typeset by MathJax, no raw TeX left in the prose.
    n_math = tab.locator(".math").count()
    n_typeset = tab.locator(".math mjx-container").count()
    assert n_typeset == n_math, f"{name}: {n_math - n_typeset} of {n_math} formulas not typeset"
    leftovers = _RAW_TEX.findall(tab.evaluate(_VISIBLE_PROSE))
    assert not leftovers, f"{name}: raw TeX in the visible text: {leftovers[:5]}"

    # Images: local, and loaded.
    images = tab.evaluate(_LOAD_IMAGES)
    remote = [i["src"] for i in images if not i["src"].startswith(LOCAL_SCHEMES)]
    broken = [i["src"][:100] for i in images if not i["ok"]]
    assert not remote, f"{name}: images from other hosts: {remote}"
    assert not broken, f"{name}: images that did not load: {broken}"

    # Nothing but the website's own files (and inline data) was requested.
    outside = [u for u in log["requests"] if not u.startswith(LOCAL_SCHEMES)]
    assert not outside, f"{name}: requests leaving file://: {outside}"
    assert not log["failed"], f"{name}: failed requests: {log['failed']}"

    # Margin notes and animations, where the chapter has them.
    margins = _expected_margins(name)
    if margins:
        found = tab.locator(".margin").count()
        assert found >= margins, f"{name}: {margins} margin notes in the notebook, {found} shown"
    animations = _expected_animations(name)
    if animations:
        anims = tab.locator("div.animation")
        assert anims.count() == animations, f"{name}: expected {animations} animations"
        for k in range(anims.count()):
            anim = anims.nth(k)
            frame = anim.locator("img").first
            assert frame.evaluate("i => i.naturalWidth") > 0, f"{name}: animation {k} shows no frame"
            # The player is live: a click on "next frame" moves its slider.
            slider = anim.locator('input[type="range"]').first
            before = slider.input_value()
            anim.locator('button[title="Next frame"]').click()
            assert slider.input_value() != before, f"{name}: animation {k} does not step"

    assert not log["errors"], f"{name}: console errors: {log['errors']}"
