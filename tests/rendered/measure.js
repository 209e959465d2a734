// Appended by tests/rendered.rs to a copy of a page it opens in headless Chromium.
// It measures what a person would see at 1280x720 and writes the result into the page,
// in a hidden pre element with the id rendered-report, which `chromium --dump-dom`
// then prints. One line per finding, tab-separated:
//
//   PAGE   <scrollWidth> <clientWidth>        the page's width against the window's
//   WIDE   <tag.class> <right edge in px>     outermost elements past the window's edge
//   SLIDE  <number> <heading> <problems>       one per Marp slide; problems "" if it fits
//   END                                        the script ran to the end
//
// When: reading a box forces layout, so the script can measure as soon as it runs, at
// the end of the page, before anything asynchronous. It does, unless the page has
// images, whose size is only known once they load: then it waits for the load event.
// Nothing waits for an animation frame or a ResizeObserver, which a headless window may
// not deliver before --dump-dom prints the page. That is also why Marp's shrinking of
// too-wide code (its auto-scaling, done from a ResizeObserver) is computed here rather
// than observed: from the code's natural width and the width it has to fit in.
(function () {
  'use strict'
  // The smallest a code block may be scaled to fit: at 0.66em of the deck's 26px, 75 %
  // is a 13px font on a 1280px frame, about the smallest read from the back of a room.
  const SHRUNK = 0.75
  const clean = (text) => (text || '').replace(/\s+/g, ' ').trim()
  const name = (el) =>
    el.tagName.toLowerCase() + (el.classList.length ? '.' + [...el.classList].join('.') : '')

  function page(lines) {
    const root = document.documentElement
    lines.push(['PAGE', root.scrollWidth, root.clientWidth].join('\t'))
    if (root.scrollWidth <= root.clientWidth) return
    // The outermost elements that stick out: the culprits, not all their children.
    let listed = 0
    for (const el of document.body.querySelectorAll('*')) {
      const right = el.getBoundingClientRect().right + window.scrollX
      const parent = el.parentElement.getBoundingClientRect().right + window.scrollX
      if (right > root.clientWidth + 0.5 && parent <= root.clientWidth + 0.5 && listed++ < 8) {
        lines.push(['WIDE', name(el), Math.round(right)].join('\t'))
      }
    }
  }

  // Marp's auto-scaled elements (code blocks, `<!-- fit -->` headings): the scale their
  // content needs to fit the width they are given, 1 when it fits as it is.
  function fitScale(scaled) {
    const content = scaled.querySelector('code') || scaled.firstElementChild
    if (!content || content.offsetWidth === 0) return 1
    const css = getComputedStyle(scaled)
    const room = scaled.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight)
    return Math.min(1, room / content.offsetWidth)
  }

  // Marp renders each slide as <svg viewBox="0 0 1280 720"><foreignObject><section>.
  // The section is the 1280x720 frame: anything outside it is cut off on screen.
  function slide(section, index) {
    const heading = clean((section.querySelector('h1, h2, h3') || {}).textContent)
    const problems = []
    const autoScaled = 'marp-pre, [data-auto-scaling]'
    // scrollHeight counts the content and the frame's padding (the theme's margin, where
    // the page number sits): above clientHeight, the content runs into that margin or
    // past the frame's edge.
    const style = getComputedStyle(section)
    const tall = section.scrollHeight - section.clientHeight
    if (tall > 1) {
      problems.push(`content ${tall}px too tall (into the ${style.paddingBottom} bottom margin, or past it)`)
    }
    const wide = section.scrollWidth - section.clientWidth
    const shrinks = [...section.querySelectorAll(autoScaled)].some((el) => fitScale(el) < 1)
    // An auto-scaled block is as wide as its natural content until Marp shrinks it; that
    // width is judged below, as a scale.
    if (wide > 1 && !shrinks) {
      problems.push(`content ${wide}px too wide (into the ${style.paddingRight} right margin, or past it)`)
    }
    // The same against the boxes on screen, which also catches what the theme's
    // padding or an element's own overflow would hide from scrollHeight. The SVG may
    // scale the frame, so compare in the frame's pixels.
    const frame = section.getBoundingClientRect()
    const scale = frame.width / section.offsetWidth || 1
    for (const el of section.querySelectorAll('*')) {
      if (el.closest(autoScaled)) continue
      const box = el.getBoundingClientRect()
      if (box.width === 0 && box.height === 0) continue
      const below = (box.bottom - frame.bottom) / scale
      const right = (box.right - frame.right) / scale
      if (below > 1 || right > 1) {
        const text = clean(el.textContent).slice(0, 40)
        problems.push(`<${name(el)}> "${text}" ends ${Math.round(Math.max(below, right))}px ${below > right ? 'below' : 'right of'} the frame`)
        break
      }
    }
    // A block that scrolls or clips inside the slide: a projector cannot scroll.
    for (const el of section.querySelectorAll('*')) {
      if (el.closest(autoScaled)) continue
      const css = getComputedStyle(el)
      const clips = (value) => value !== 'visible' && value !== 'clip'
      if (clips(css.overflowX) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
        problems.push(`a <${name(el)}> scrolls: ${el.scrollWidth - el.clientWidth}px too wide`)
      }
      if (clips(css.overflowY) && el.clientHeight > 0 && el.scrollHeight > el.clientHeight + 1) {
        problems.push(`a <${name(el)}> scrolls: ${el.scrollHeight - el.clientHeight}px too tall`)
      }
    }
    for (const el of section.querySelectorAll(autoScaled)) {
      const fit = fitScale(el)
      if (fit < SHRUNK) {
        const what = el.querySelector('code') ? 'a code block' : `a <${name(el)}>`
        problems.push(`${what} is shrunk to ${Math.round(fit * 100)}% to fit (a line too long)`)
      }
    }
    return ['SLIDE', index + 1, heading, problems.join('; ')].join('\t')
  }

  function measure() {
    const lines = []
    page(lines)
    const sections = document.querySelectorAll('svg[data-marpit-svg] > foreignObject > section')
    sections.forEach((section, index) => lines.push(slide(section, index)))
    lines.push('END')
    const report = document.createElement('pre')
    report.id = 'rendered-report'
    report.textContent = lines.join('\n')
    // Outside the layout being measured, and after measuring.
    report.style.display = 'none'
    document.body.appendChild(report)
  }

  if (document.images.length === 0) {
    measure()
  } else {
    window.addEventListener('load', measure)
  }
})()
