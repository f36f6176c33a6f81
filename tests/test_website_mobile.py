"""The website on a phone (375 px wide), and by keyboard.

At 375 px the menu button opens the table of contents, nothing on a page is cut off at the right
edge (a long formula scrolls inside its own box and a shadow marks the side with more to see),
equation numbers sit beside their equations, and the animation's controls fit. A figure too wide
for the column keeps a size at which its labels are legible (tests/test_figure_text.py measures
them) and scrolls sideways in a frame that has a shadow cue, a tab stop and a name; on a desktop
screen the frames are gone. A screenshot of
every page at 375 px goes to _build/screenshots/phone__*.png. By keyboard alone a reader reaches
and opens the menu, the exercise solutions and the animation's buttons.
"""

from __future__ import annotations

import pytest

import yaml

from website_helpers import (DESKTOP, HTML, PAGES, PHONE, ROOT, SHOTS, launched_browser,
                             require_built, wait_for_math)

# The numbered chapters: those of _toc.yml's numbered parts (an appendix is not numbered).
_TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
NUMBERED = [c["file"] for part in _TOC.get("parts", []) if part.get("numbered")
            for c in part.get("chapters", [])] or [c["file"] for c in _TOC.get("chapters", [])]


@pytest.fixture(scope="module")
def browser():
    require_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with launched_browser() as b:
        yield b


def _open(browser, name, viewport):
    context = browser.new_context(viewport=viewport)
    tab = context.new_page()
    tab.goto((HTML / f"{name}.html").as_uri(), wait_until="load")
    wait_for_math(tab)
    return context, tab


# Elements that stick out of the window, except those inside a box that scrolls sideways and
# itself fits. The sidebars are drawers that slide in; screen readers' copy of the math is
# invisible by design.
_CUT_OFF = """() => {
  const W = document.documentElement.clientWidth;
  const skip = '.bd-sidebar-primary, .bd-sidebar-secondary, mjx-assistive-mml, script, style';
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const fits = r => r.left >= -1 && r.right <= W + 1;
  const cut = [];
  for (const e of document.querySelectorAll('body *')) {
    if (e.closest(skip)) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || fits(r)) continue;
    let p = e.parentElement, inside = false;
    for (; p && p !== document.body; p = p.parentElement) {
      if (scrolls(p) && fits(p.getBoundingClientRect())) { inside = true; break; }
    }
    if (!inside) cut.push(`<${e.tagName.toLowerCase()} class="${e.className}"> ` +
      `[${Math.round(r.left)}, ${Math.round(r.right)}] ${(e.textContent || '').trim().slice(0, 50)}`);
  }
  return {pageWidth: document.documentElement.scrollWidth, width: W, cut};
}"""

# Display equations: the number must not overlap the formula; a formula wider than its box
# scrolls and shows a shadow on the side where more of it is.
_EQUATIONS = """() => Array.from(document.querySelectorAll('div.math')).map(d => {
  const m = d.querySelector('mjx-container');
  if (!m) return {id: d.id, typeset: false};
  const n = d.querySelector('.eqno');
  const a = m.getBoundingClientRect();
  let overlap = false;
  if (n) {
    const b = n.getBoundingClientRect();
    overlap = b.left < a.right - 1 && a.left < b.right - 1 && b.top < a.bottom && a.top < b.bottom;
  }
  const wide = m.scrollWidth > m.clientWidth + 1;
  return {id: d.id, typeset: true, overlap, wide,
          scrolls: ['auto', 'scroll'].includes(getComputedStyle(m).overflowX),
          cue: getComputedStyle(m).boxShadow !== 'none'};
})"""


@pytest.mark.parametrize("name", PAGES)
def test_nothing_is_cut_off_on_a_phone(browser, name):
    context, tab = _open(browser, name, PHONE)
    try:
        tab.screenshot(path=str(SHOTS / ("phone__" + name.replace("/", "__") + ".png")),
                       full_page=True)
        layout = tab.evaluate(_CUT_OFF)
        assert layout["pageWidth"] <= layout["width"], (
            f"{name}: the page is {layout['pageWidth']} px wide on a {layout['width']} px screen")
        assert not layout["cut"], f"{name}: cut off at 375 px:\n" + "\n".join(layout["cut"][:20])
        for eq in tab.evaluate(_EQUATIONS):
            assert eq["typeset"], f"{name}: equation {eq['id']} not typeset"
            assert not eq["overlap"], f"{name}: the number of {eq['id']} covers the equation"
            if eq["wide"]:
                assert eq["scrolls"] and eq["cue"], (
                    f"{name}: {eq['id']} is wider than the screen without scrolling and its cue")
        # The animation player fits: its slider and every button are on screen, and its frame
        # too, or the box in which the frame scrolls sideways (see the figures' test below).
        for k in range(tab.locator("div.animation").count()):
            anim = tab.locator("div.animation").nth(k)
            for part in anim.locator("img, input, button").all():
                box = part.evaluate_handle(
                    "e => e.closest('.figure-wide > .figure-scroll') || e").as_element().bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
                    f"{name}: animation {k}: {part.evaluate('e => e.outerHTML')[:80]} off screen")
    finally:
        context.close()


# The figures on a phone (course.js, course.css): one wider than the column keeps a legible size
# in a frame that scrolls sideways, is a named tab stop, and shows a shadow on the side with more.
_FIGURE_FRAMES = """() => Array.from(document.querySelectorAll('.figure-frame')).map(f => {
  const s = f.querySelector('.figure-scroll');
  const img = f.querySelector('img');
  const cue = side => getComputedStyle(f, side).opacity === '1';
  return {wide: f.classList.contains('figure-wide'), alt: img.alt.slice(0, 50),
          img: img.getBoundingClientRect().width, column: s.clientWidth,
          scrolls: s.scrollWidth > s.clientWidth + 1 &&
                   ['auto', 'scroll'].includes(getComputedStyle(s).overflowX),
          tabindex: s.getAttribute('tabindex'), name: s.getAttribute('aria-label') || '',
          role: s.getAttribute('role'), display: getComputedStyle(f).display,
          left: cue('::before'), right: cue('::after')};
})"""

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
_AXE_FRAMES = """async () => {
  const r = await axe.run({include: [['.figure-frame.figure-wide']]},
    {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
     resultTypes: ['violations']});
  return r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
}"""


@pytest.mark.parametrize("name", [p for p in PAGES if p.startswith("chapters/")])
def test_wide_figures_scroll_in_a_named_frame_on_a_phone(browser, name):
    context, tab = _open(browser, name, PHONE)
    try:
        tab.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        tab.wait_for_timeout(500)
        frames = tab.evaluate(_FIGURE_FRAMES)
        wide = [f for f in frames if f["wide"]]
        for f in frames:
            if not f["wide"]:
                assert f["img"] <= f["column"] + 1 or f["column"] == 0, (
                    f"{name}: {f['alt']!r} sticks out of its column without a frame: {f}")
                continue
            assert f["scrolls"], f"{name}: {f['alt']!r} is framed but does not scroll: {f}"
            assert f["tabindex"] == "0" and f["role"] == "group", f
            assert f["name"].startswith("Figure, scrolls sideways: ") and len(f["name"]) > 30, f
            assert f["right"] and not f["left"], (
                f"{name}: {f['alt']!r}: no shadow at the right edge, where more of it is: {f}")
        if wide:
            tab.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            violations = tab.evaluate(_AXE_FRAMES)
            assert not violations, f"{name}: axe-core on the figures' frames: {violations}"
        # Back on a desktop screen the frames are gone: the page lays out as it did without them.
        tab.set_viewport_size(DESKTOP)
        tab.wait_for_timeout(400)
        for f in tab.evaluate(_FIGURE_FRAMES):
            assert not f["wide"] and f["display"] == "contents" and f["tabindex"] is None, f
    finally:
        context.close()


def test_a_figure_frame_scrolls_by_keyboard_and_moves_its_cue(browser):
    context, tab = _open(browser, "chapters/01_loss_surfaces", PHONE)
    try:
        frame = tab.locator(".figure-frame.figure-wide").first
        scroll = frame.locator(".figure-scroll")
        scroll.scroll_into_view_if_needed()
        scroll.focus()
        assert scroll.evaluate("s => s === document.activeElement")
        for _ in range(4):
            tab.keyboard.press("ArrowRight")
        tab.wait_for_timeout(300)
        assert scroll.evaluate("s => s.scrollLeft") > 0, "the arrow keys do not scroll the figure"
        assert "more-left" in frame.get_attribute("class")
        scroll.evaluate("s => { s.scrollLeft = s.scrollWidth; }")
        tab.wait_for_timeout(200)
        classes = frame.get_attribute("class")
        assert "more-left" in classes and "more-right" not in classes, classes
        tab.screenshot(path=str(SHOTS / "phone__figure_scrolled.png"))
    finally:
        context.close()


def test_margin_notes_stay_in_the_window_on_a_small_laptop(browser):
    """Between 992 and 1200 px the theme hung margin notes beyond the window (the sidebar they
    were meant to sit over is a drawer there): the page scrolled sideways by 240 px at 1024."""
    pages = [p for p in PAGES if 'class="margin' in (HTML / f"{p}.html").read_text(encoding="utf-8")]
    assert pages, "no page has a margin note"
    for name in pages:
        context, tab = _open(browser, name, {"width": 1024, "height": 768})
        try:
            layout = tab.evaluate(_CUT_OFF)
            assert layout["pageWidth"] <= layout["width"] and not layout["cut"], (
                f"{name} at 1024 px: " + "\n".join(layout["cut"][:5]))
        finally:
            context.close()


def test_a_long_formula_scrolls_in_its_box_with_a_cue(browser):
    """Checked on a formula made for the test: the chapters may or may not have one this long."""
    context, tab = _open(browser, "intro", PHONE)
    try:
        tab.evaluate("""() => {
          const d = document.createElement('div');
          d.className = 'math notranslate nohighlight'; d.id = 'equation-test-long';
          d.innerHTML = '<span class="eqno">(9.9)</span>\\\\[' +
            Array.from({length: 30}, (_, i) => 'x_{' + i + '}').join(' + ') + '\\\\]';
          document.querySelector('main section').appendChild(d);
          return MathJax.typesetPromise([d]);
        }""")
        tab.evaluate("() => window.dispatchEvent(new Event('resize'))")
        tab.wait_for_timeout(300)
        eq = [e for e in tab.evaluate(_EQUATIONS) if e["id"] == "equation-test-long"][0]
        assert eq["wide"] and eq["scrolls"] and eq["cue"] and not eq["overlap"], eq
        assert not tab.evaluate(_CUT_OFF)["cut"]
        box = tab.locator("#equation-test-long mjx-container")
        assert "more-right" in box.get_attribute("class")
        box.evaluate("m => { m.scrollLeft = m.scrollWidth; m.dispatchEvent(new Event('scroll')); }")
        classes = box.get_attribute("class")
        assert "more-left" in classes and "more-right" not in classes, classes
    finally:
        context.close()


def test_the_menu_opens_the_chapter_list_on_a_phone(browser):
    context, tab = _open(browser, PAGES[1], PHONE)
    try:
        links = tab.locator(".bd-sidebar-primary nav.bd-links a")
        assert links.count() >= len(PAGES) - 1
        assert not links.first.is_visible(), "the chapter list shows before the menu is opened"
        tab.locator("button.primary-toggle:visible").click()
        tab.wait_for_timeout(400)
        titles = [links.nth(k).inner_text().strip() for k in range(links.count())
                  if links.nth(k).is_visible()]
        assert len(titles) == links.count(), f"after a click on the menu only {titles} show"
        for k in range(1, len(NUMBERED) + 1):
            assert any(t.startswith(f"{k}.") for t in titles), f"no chapter {k} in {titles}"
        tab.screenshot(path=str(SHOTS / "phone__menu.png"))
    finally:
        context.close()


# --- by keyboard ---

_TABBABLE = """() => Array.from(document.querySelectorAll(
    'a[href], button, input, select, textarea, summary, [tabindex]')).filter(e =>
  e.tabIndex >= 0 && !e.disabled && e.checkVisibility({visibilityProperty: true}))"""


def _tab_to(tab, selector):
    """Focus the element before `selector` in tab order, press Tab: focus must land on it."""
    target = tab.locator(selector).first
    target.scroll_into_view_if_needed()
    before = tab.evaluate_handle(f"""() => {{
      const all = ({_TABBABLE})();
      const i = all.indexOf(document.querySelector({selector!r}));
      return i > 0 ? all[i - 1] : null;
    }}""")
    assert before.evaluate("e => e !== null"), f"{selector} is not in the tab order"
    before.evaluate("e => e.focus()")
    tab.keyboard.press("Tab")
    assert target.evaluate("e => e === document.activeElement"), (
        f"Tab did not reach {selector}; it went to "
        + tab.evaluate("() => document.activeElement.outerHTML.slice(0, 120)"))
    return target


def test_keyboard_opens_the_menu_on_a_phone(browser):
    context, tab = _open(browser, PAGES[1], PHONE)
    try:
        for _ in range(5):  # the skip link, then the menu button
            tab.keyboard.press("Tab")
            if tab.evaluate("() => document.activeElement.matches('button.primary-toggle')"):
                break
        else:
            pytest.fail("five presses of Tab did not reach the menu button")
        tab.keyboard.press("Enter")
        tab.wait_for_timeout(400)
        assert tab.locator(".bd-sidebar-primary nav.bd-links a").first.is_visible()
    finally:
        context.close()


def _pages_with(marker: str) -> list[str]:
    return [p for p in PAGES if (HTML / f"{p}.html").exists()
            and marker in (HTML / f"{p}.html").read_text(encoding="utf-8")]


def test_keyboard_opens_a_solution(browser):
    pages = _pages_with('class="solution dropdown')
    assert pages, "no page has an exercise solution in a dropdown"
    for name in pages:
        context, tab = _open(browser, name, DESKTOP)
        try:
            solution = tab.locator("div.solution.dropdown").first
            content = solution.locator("section").first
            assert not content.is_visible(), f"{name}: a solution is open before it is asked for"
            _tab_to(tab, "div.solution.dropdown .toggle-button")
            tab.keyboard.press("Enter")
            tab.wait_for_timeout(400)
            assert content.is_visible(), f"{name}: Enter on the toggle did not show the solution"
        finally:
            context.close()


def test_keyboard_steps_the_animation(browser):
    pages = _pages_with('<div class="animation"')
    assert pages, "no page has an animation"
    for name in pages:
        context, tab = _open(browser, name, DESKTOP)
        try:
            anim = tab.locator("div.animation").first
            slider = anim.locator('input[type="range"]')
            before = slider.input_value()
            _tab_to(tab, 'div.animation button[title="Next frame"]')
            tab.keyboard.press("Enter")
            assert slider.input_value() != before, f"{name}: Enter on 'Next frame' did not step"
            # The slider itself takes the arrow keys.
            _tab_to(tab, 'div.animation input[type="range"]')
            value = slider.input_value()
            tab.keyboard.press("ArrowRight")
            assert slider.input_value() != value, f"{name}: the slider ignores the arrow keys"
        finally:
            context.close()
