"""What every page must pass on a phone: nothing wider than the screen, and nothing axe-core
calls serious or critical. axe-core is vendored under tests/browser/vendor for the tests only
(MPL-2.0, its licence beside it); the product never serves it."""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
#: The impacts that fail a page.
FAILING = ("serious", "critical")
#: The widths of the phones the pages must fit: small, common, large.
PHONE_WIDTHS = (320, 390, 430)


def overflow(page) -> tuple[int, int, list[str]]:
    """The document's width, the viewport's, and the elements that stick out to the right."""
    return page.evaluate(OVERFLOW)


#: Elements past the viewport's right edge that no scrolling or clipping frame holds.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const framed = (el) => {
    for (let up = el.parentElement; up; up = up.parentElement) {
      const x = getComputedStyle(up).overflowX;
      if (['auto', 'scroll', 'hidden', 'clip'].includes(x)) return true;
    }
    return false;
  };
  const name = (el) => {
    const classes = typeof el.className === 'string' ? el.className.trim() : '';
    return el.tagName.toLowerCase() + (classes ? '.' + classes.split(/\\s+/).join('.') : '');
  };
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0 && !framed(el)) {
      wide.push(name(el) + ' ' + Math.round(box.right));
    }
  }
  return [document.documentElement.scrollWidth, width, wide.slice(0, 8)];
}"""


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ['violations']});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {v['nodes']}"
        for v in result
        if v["impact"] in FAILING
    ]


def phone_problems(page) -> list[str]:
    """Everything wrong with the loaded page on a phone: sideways scrolling at each phone
    width, then axe's serious and critical findings at 390 px."""
    size = page.viewport_size
    problems = []
    for width in PHONE_WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        scroll_width, inner_width, wide = overflow(page)
        if scroll_width > inner_width:
            problems.append(f"{width} px: the page is {scroll_width} px wide ({wide})")
    page.set_viewport_size({"width": 390, "height": 844})
    problems += axe_violations(page)
    if size:
        page.set_viewport_size(size)
    return problems
