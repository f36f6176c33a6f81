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
    timer = setTimeout(function () { markWide(); tabStops(); }, 100);
  });
})();
