// Renders slides/lecture.md to one self-contained HTML file, target/slides/lecture.html.
//
//   npm ci            # once: installs the pinned @marp-team/marp-cli (package-lock.json)
//   npm run slides    # runs this script
//
// HTML output needs no browser (only PDF, PNG and PPTX do). Marp inlines the theme's
// CSS and its small slide-navigation script; the one thing it would load from
// elsewhere is the gaia theme's web-font @import, which this script removes, so the
// deck renders the same with no network (the theme falls back to local fonts).
// Local images (`![...](../crates/bench/reports/.../report.svg)`, relative to the deck)
// are inlined as data: URIs, so the one HTML file shows them wherever it is copied.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, extname, resolve } from 'node:path'
import { marpCli } from '@marp-team/marp-cli'

const input = 'slides/lecture.md'
const output = 'target/slides/lecture.html'

const status = await marpCli(['--no-stdin', input, '-o', output])
if (status !== 0) process.exit(status)

const html = readFileSync(output, 'utf8')
const types = { '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp' }
// Marp keeps an image's path as the deck wrote it, relative to the deck's directory.
// (Inlining in the Markdown instead would not work: markdown-it refuses SVG data: links.)
const inlined = html.replace(/(<img\b[^>]*?\bsrc=")([^"]+)"/g, (tag, head, src) => {
  if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(src)) return tag // a URL (data:, https:): left as is
  const path = resolve(dirname(input), src.replaceAll('&amp;', '&'))
  const type = types[extname(path).toLowerCase()]
  if (!type) {
    console.error(`${input}: image ${src}: unknown type (known: ${Object.keys(types).join(' ')})`)
    process.exit(1)
  }
  let bytes
  try {
    bytes = readFileSync(path)
  } catch (error) {
    console.error(`${input}: image ${src} cannot be read (${path}): ${error.message}`)
    process.exit(1)
  }
  return `${head}data:${type};base64,${bytes.toString('base64')}"`
})
const offline = inlined.replace(/@import\s+(?:url\()?["']?https?:\/\/[^;]*;/g, '')
// Anything still fetched from the network would break "self-contained": refuse it.
const remote = offline.match(/(?:src|href)=["']https?:\/\/[^"']*|url\(["']?https?:\/\/[^)]*/g)
// A local path left over (an image in CSS, say) would show only next to the sources.
const local = offline.match(/\bsrc="(?![a-z][a-z0-9+.-]*:)[^"]*"/gi)
if (local) {
  console.error(`${output} still refers to local files:\n${local.join('\n')}`)
  process.exit(1)
}
if (remote) {
  console.error(`${output} still loads from the network:\n${remote.join('\n')}`)
  process.exit(1)
}
writeFileSync(output, offline)
console.log(`wrote ${output} (${Math.round(offline.length / 1024)} KiB, self-contained)`)
