// Appended by tests/rendered.rs to a copy of a page it opens in headless Chromium.
// It measures what a person would see at 1280x720 and writes the result into the page,
// in a hidden pre element with the id rendered-report, which `chromium --dump-dom`
// then prints. One line per finding, tab-separated:
//
//   PAGE   <scrollWidth> <clientWidth>        the page's width against the window's
//   WIDE   <tag.class> <right edge in px>     outermost elements past the window's edge
//   SLIDE  <number> <heading> <problems>       one per Marp slide; problems "" if it fits
//   ERROR  <message>                           the page could not be measured
//   END                                        the script ran to the end
//
// When: reading a box forces layout, so the script can measure as soon as it runs, at
// the end of the page. It does, unless the page has images, whose size is only known
// once they load: then it waits for the load event. It never waits for an animation
// frame, which a headless window may not deliver before --dump-dom prints the page.
//
// Marp's auto-scaling (code blocks shrunk to fit their width, `<!-- fit -->` headings)
// is the one thing a browser does later: each scaled element sizes an SVG from two
// ResizeObservers, which report after a frame. Until they do, a code block is an SVG of
// the default 150px height, and measuring then sees slides grow and shrink from run to
// run. So the script first settles every scaled element itself: it stops its observers
// and hands it the sizes they would report, and Marp's own code (`updateSVGRect`, of
// the pinned @marp-team/marp-core) does the rest. If those internals are not there
// (a newer Marp), the script reports an error instead of measuring a half-laid-out page.
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

  // Settles Marp's auto-scaling (see the top of this file); returns, for each scaled
  // element (its host: a marp-pre, a heading), the scale it is drawn at.
  function settleAutoScaling() {
    const scales = new Map()
    for (const host of document.querySelectorAll('[data-auto-scaling]')) {
      const el = host.shadowRoot && host.shadowRoot.querySelector('marp-auto-scaling')
      if (!el || typeof el.updateSVGRect !== 'function' || !el.container || !el.wrapper ||
          !el.svg || !el.containerObserver || !el.wrapperObserver) {
        throw new Error(`Marp's auto-scaling is not built as this script expects (a <${name(host)}> ` +
          'without the marp-auto-scaling internals of @marp-team/marp-core 4): update tests/rendered/measure.js')
      }
      el.containerObserver.disconnect()
      el.wrapperObserver.disconnect()
      // What the observers report: content boxes, in layout pixels.
      el.containerSize = { width: el.container.offsetWidth, height: el.container.offsetHeight }
      el.wrapperSize = { width: el.wrapper.clientWidth, height: el.wrapper.clientHeight }
      el.updateSVGRect()
      el.svg.style.display = ''
      // Marp draws the natural width (the container's) into the available one.
      scales.set(host, Math.min(1, el.wrapperSize.width / Math.max(el.containerSize.width, 1)))
    }
    return scales
  }

  // Marp renders each slide as <svg viewBox="0 0 1280 720"><foreignObject><section>.
  // The section is the 1280x720 frame: anything outside it is cut off on screen.
  function slide(section, index, scales) {
    const heading = clean((section.querySelector('h1, h2, h3') || {}).textContent)
    const problems = []
    // scrollHeight counts the content and the frame's padding (the theme's margin, where
    // the page number sits): above clientHeight, the content runs into that margin, and
    // past the padding it is cut off at the frame's edge. Both fail: text over the page
    // number is as unreadable as text that is not there.
    const style = getComputedStyle(section)
    const overrun = (extra, padding, side) => {
      const cut = extra - parseFloat(padding)
      return cut > 1
        ? `content cut off: ${Math.round(cut)}px past the frame's ${side} edge`
        : `content runs ${extra}px into the ${padding} ${side} margin (where the page number sits)`
    }
    const tall = section.scrollHeight - section.clientHeight
    if (tall > 1) problems.push(overrun(tall, style.paddingBottom, 'bottom'))
    const wide = section.scrollWidth - section.clientWidth
    if (wide > 1) problems.push(overrun(wide, style.paddingRight, 'right'))
    // The same against the boxes on screen, which also catches what the theme's
    // padding or an element's own overflow would hide from scrollHeight. The SVG may
    // scale the frame, so compare in the frame's pixels.
    const frame = section.getBoundingClientRect()
    const scale = frame.width / section.offsetWidth || 1
    for (const el of section.querySelectorAll('*')) {
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
      const css = getComputedStyle(el)
      const clips = (value) => value !== 'visible' && value !== 'clip'
      if (clips(css.overflowX) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
        problems.push(`a <${name(el)}> scrolls: ${el.scrollWidth - el.clientWidth}px too wide`)
      }
      if (clips(css.overflowY) && el.clientHeight > 0 && el.scrollHeight > el.clientHeight + 1) {
        problems.push(`a <${name(el)}> scrolls: ${el.scrollHeight - el.clientHeight}px too tall`)
      }
    }
    for (const pre of section.querySelectorAll('marp-pre')) {
      const shrunk = scales.get(pre) ?? 1
      if (shrunk < SHRUNK) {
        problems.push(`a code block is shrunk to ${Math.round(shrunk * 100)}% to fit (a line too long)`)
      }
    }
    return ['SLIDE', index + 1, heading, problems.join('; ')].join('\t')
  }

  function measure() {
    const lines = []
    try {
      const scales = settleAutoScaling()
      page(lines)
      const sections = document.querySelectorAll('svg[data-marpit-svg] > foreignObject > section')
      sections.forEach((section, index) => lines.push(slide(section, index, scales)))
    } catch (error) {
      lines.push(['ERROR', clean(String(error))].join('\t'))
    }
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
