"""Every page of the website passes axe-core's WCAG 2.0 / 2.1 A and AA rules, offline.

axe-core (tests/vendor/axe-core/axe.min.js, MPL-2.0, from the npm package) is injected into each
built page in Chromium: on a desktop screen with every solution and hidden cell opened, so their
content is checked too, and on a phone screen with the menu open. Any violation fails the test and
is printed with the elements it concerns. (On the phone only what the narrow layout changes is
checked again: the header bar, the menu drawer and the previous/next links.) Every image also
needs alt text that says what it shows: not empty, not a file name, not the generic name the
build gives an animation whose cell has none.
"""

from __future__ import annotations

import html.parser
import re

import pytest

from website_helpers import (ALL_PAGES, DESKTOP, HTML, PHONE, ROOT, launched_browser,
                             require_built, wait_for_math)

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

_RUN_AXE = """async ([tags, include]) => {
  const context = include.length ? {include: include.map(s => [s])} : document;
  const result = await axe.run(context, {runOnly: {type: 'tag', values: tags},
                                        resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ') + '\\n      ' +
                       (n.failureSummary || '').replace(/\\n/g, ' ').slice(0, 300))}));
}"""

_OPEN_EVERYTHING = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-button').forEach(b => b.click());
}"""


@pytest.fixture(scope="module")
def browser():
    require_built()
    with launched_browser() as b:
        yield b


def _axe(tab, include=()):
    tab.wait_for_timeout(600)  # the dropdowns' and the drawer's transitions
    if not tab.evaluate("() => !!window.axe"):
        tab.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return tab.evaluate(_RUN_AXE, [WCAG_AA, list(include)])


def _report(where, violations):
    lines = [f"{where}: {len(violations)} axe-core violation(s) of WCAG 2.1 A/AA:"]
    for v in violations:
        lines.append(f"  {v['id']} ({v['impact']}): {v['help']}")
        lines += [f"    {n}" for n in v["nodes"][:8]]
    return "\n".join(lines)


# What the narrow layout changes: the header bar, the menu drawer, the previous/next links.
PHONE_PARTS = (".bd-header", ".bd-header-article", ".bd-sidebar-primary", ".prev-next-area")


@pytest.mark.parametrize("name", ALL_PAGES)
def test_axe_finds_no_violation(browser, name):
    """One load per page (axe takes seconds a page): first on a phone with the menu open, then on
    a desktop screen with every folded cell and solution open."""
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    try:
        tab.goto((HTML / f"{name}.html").as_uri(), wait_until="load")
        wait_for_math(tab)
        tab.locator("button.primary-toggle:visible").click()
        phone = _axe(tab, PHONE_PARTS)
        tab.keyboard.press("Escape")
        tab.set_viewport_size(DESKTOP)
        tab.evaluate(_OPEN_EVERYTHING)
        desktop = _axe(tab)
    finally:
        context.close()
    problems = [_report(f"{name} at 375 px, menu open", phone) if phone else "",
                _report(f"{name} at 1400 px, solutions open", desktop) if desktop else ""]
    assert not (phone or desktop), "\n".join(p for p in problems if p)


def test_the_vendored_axe_core_keeps_its_license_header():
    head = AXE.read_text(encoding="utf-8")[:600]
    assert re.search(r"axe v4\.\d+\.\d+", head) and "Mozilla Public" in head


# --- alt text, read from the built pages (no browser needed) ---

class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


GENERIC_ALT = {"animation frame", "image", "figure", "plot", "png", "svg"}
_FILE_NAME = re.compile(r"\.(png|svg|jpe?g|gif)$|^[0-9a-f]{16,}|_images/", re.IGNORECASE)


def images_lacking_alt(page_html: str) -> list[str]:
    """The images of a page whose alt text is missing, empty, a file name or a generic word."""
    parser = _Images()
    parser.feed(page_html)
    bad = []
    for img in parser.images:
        alt = (img.get("alt") or "").strip()
        if not alt or _FILE_NAME.search(alt) or alt.lower() in GENERIC_ALT:
            src = img.get("src") or f"#{img.get('id', '?')}"
            bad.append(f"{src[:70]}  alt={alt!r}")
    return bad


def test_the_alt_text_check_knows_a_description_from_a_file_name():
    assert images_lacking_alt('<img src="a.svg" alt="../_images/3f2a9c.svg">')
    assert images_lacking_alt('<img id="_anim_img1" alt="Animation frame">')
    assert images_lacking_alt('<img src="a.png">')
    assert not images_lacking_alt(
        '<img src="a.svg" alt="Contour plot of the loss over w and b with its minimum marked">')


def test_every_image_has_alt_text_that_says_what_it_shows():
    require_built()
    missing = {}
    for name in ALL_PAGES:
        bad = images_lacking_alt((HTML / f"{name}.html").read_text(encoding="utf-8"))
        if bad:
            missing[name] = bad
    assert not missing, (
        "images without alt text that says what they show; give the cell the metadata "
        '{"mystnb": {"image": {"alt": "..."}}} (a figure output or an animation), or :alt: on a '
        "{figure}/{image} directive:\n" + "\n".join(
            f"  {page}:\n" + "\n".join(f"    {b}" for b in bad) for page, bad in missing.items()))
