// The course website's own script, added to every page by tools/book_offline.py.
// A formula cannot wrap, so one wider than its column would be cut off on a phone. Once MathJax
// has typeset the page, every formula wider than the space it has is marked "math-wide": course.css
// turns it into a box that scrolls sideways, and "more-left" / "more-right" put a shadow on the
// edge beyond which there is more of the formula. The check is repeated when the width changes.
// A box that scrolls must be reachable by keyboard (to scroll it with the arrow keys): the theme
// gives such boxes a tab stop when the page loads, but code and outputs inside a folded cell or
// solution only start to scroll once opened, so they get theirs when opened.
(function () {
  var SCROLLERS = 'pre, div.output, div.cell_output, .highlight';
  function tabStops(root) {
    (root || document).querySelectorAll(SCROLLERS).forEach(function (e) {
      if (e.tabIndex < 0 && (e.scrollWidth > e.clientWidth + 1 ||
                                          e.scrollHeight > e.clientHeight + 1)) {
        var s = getComputedStyle(e);
        if (/(auto|scroll)/.test(s.overflowX + s.overflowY)) {
          e.setAttribute('tabindex', '0');
        }
      }
    });
  }
  document.addEventListener('toggle', function (ev) { tabStops(ev.target); }, true);
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest && ev.target.closest('.toggle-button, .admonition-title');
    if (b) {
      requestAnimationFrame(function () { tabStops(); });
      setTimeout(function () { tabStops(); }, 400);  // after the dropdown's transition
    }
  });
  function edges(m) {
    m.classList.toggle('more-left', m.scrollLeft > 1);
    m.classList.toggle('more-right', m.scrollLeft + m.clientWidth < m.scrollWidth - 1);
  }
  function mark(m, wide) {
    m.classList.toggle('math-wide', wide);
    if (!wide) {
      m.classList.remove('more-left', 'more-right');
      return;
    }
    edges(m);
    if (!m.dataset.courseScroll) {
      m.dataset.courseScroll = '1';
      m.addEventListener('scroll', function () { edges(m); }, {passive: true});
    }
  }
  function markWide() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (m) {
      mark(m, m.scrollWidth > m.clientWidth + 1);
    });
    document.querySelectorAll('mjx-container:not([display="true"])').forEach(function (m) {
      m.classList.remove('math-wide');
      var column = m.parentElement;
      while (column && getComputedStyle(column).display.indexOf('inline') === 0) {
        column = column.parentElement;
      }
      // Once marked, the box is at most as wide as its column: compare its content instead.
      mark(m, !!column && m.scrollWidth > column.clientWidth);
    });
  }
  function whenTypeset() {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(markWide);
    } else {
      markWide();
    }
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', whenTypeset);
  } else {
    whenTypeset();
  }
  var timer = null;
  window.addEventListener('resize', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { markWide(); tabStops(); fitFigures(); }, 100);
  });

  // Figures on a narrow screen. A figure is drawn to be read at the size a desktop page shows it
  // (tests/test_figure_text.py: no label under 12 px at 1400 px wide); squeezed into a phone's
  // column its labels would shrink to 5-7 px. So below NARROW, a figure wider than its column is
  // shown at that size, or smaller as long as its smallest label stays at 12 px, in a frame that
  // scrolls sideways ("figure-wide"), with the equations' shadow cue on the side where more of it
  // is; the frame is a tab stop named after the figure, so the arrow keys scroll it. A figure that fits is left alone, and so is every figure on a
  // wider screen: the wrappers are then display: contents, and the page lays out as before.
  var NARROW = window.matchMedia('(max-width: 699.98px)');
  var MIN_TEXT_PX = 12.25;  // 9 pt, and a little to spare for rounding
  var FIGURES = ['.cell_output img', 'figure img', 'div.animation img', 'div.output img']
    .map(function (s) { return '.bd-article ' + s; }).join(', ');
  function frameOf(img) {
    var target = (img.parentElement && img.parentElement.closest('a.image-reference')) || img;
    var scroll = target.parentElement;
    if (scroll && scroll.classList.contains('figure-scroll')) return scroll;
    if (!NARROW.matches) return null;  // wrapped when first needed
    var frame = document.createElement('div');
    frame.className = 'figure-frame';
    scroll = document.createElement('div');
    scroll.className = 'figure-scroll';
    target.parentNode.insertBefore(frame, target);
    frame.appendChild(scroll);
    scroll.appendChild(target);
    scroll.addEventListener('scroll', function () { edges(scroll, frame); }, {passive: true});
    img.addEventListener('load', function () { fitFigure(img); });
    return scroll;
  }
  function edges(box, marked) {
    (marked || box).classList.toggle('more-left', box.scrollLeft > 1);
    (marked || box).classList.toggle('more-right',
                                     box.scrollLeft + box.clientWidth < box.scrollWidth - 1);
  }
  function figureName(img) {
    var alt = (img.getAttribute('alt') || '').trim();
    var first = alt.replace(/\.\s[\s\S]*$/, '.');  // the first sentence
    if (first.length > 120) first = first.slice(0, 117).replace(/\s+\S*$/, '') + '...';
    return 'Figure, scrolls sideways' + (first ? ': ' + first : '');
  }
  function fitFigure(img) {
    var src = img.getAttribute('src') || '';
    if (src.indexOf('_static/') >= 0) return;
    var scroll = frameOf(img);
    if (!scroll) return;
    var frame = scroll.parentElement;
    var wide = false;
    img.style.removeProperty('--figure-width');
    if (NARROW.matches) {
      frame.classList.add('figure-wide');  // measure the figure at its full size
      var full = img.getBoundingClientRect().width;
      // The build wrote the smallest label's size at the image's intrinsic width (data-text-px):
      // the figure may shrink until that label is 12 px, and no further.
      var textPx = parseFloat(img.getAttribute('data-text-px'));
      var need = full;
      if (textPx > 0 && img.naturalWidth > 0) {
        need = Math.min(full, Math.ceil(img.naturalWidth * MIN_TEXT_PX / textPx));
      }
      wide = scroll.clientWidth > 0 && need > scroll.clientWidth + 1;
      if (wide && need < full) img.style.setProperty('--figure-width', need + 'px');
    }
    frame.classList.toggle('figure-wide', wide);
    if (wide) {
      scroll.setAttribute('tabindex', '0');
      scroll.setAttribute('role', 'group');
      scroll.setAttribute('aria-label', figureName(img));
      edges(scroll, frame);
    } else {
      ['tabindex', 'role', 'aria-label'].forEach(function (a) { scroll.removeAttribute(a); });
      frame.classList.remove('more-left', 'more-right');
    }
  }
  function fitFigures() {
    document.querySelectorAll(FIGURES).forEach(fitFigure);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', fitFigures);
  } else {
    fitFigures();
  }
  window.addEventListener('load', fitFigures);
  // A figure inside a folded cell or solution has no width until it is opened.
  document.addEventListener('toggle', function () { fitFigures(); }, true);
  document.addEventListener('click', function (ev) {
    if (ev.target.closest && ev.target.closest('.toggle-button, .admonition-title, summary')) {
      setTimeout(fitFigures, 400);
    }
  });
})();
