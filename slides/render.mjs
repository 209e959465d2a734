// Renders slides/lecture.md to one self-contained HTML file, target/slides/lecture.html.
//
//   npm ci            # once: installs the pinned @marp-team/marp-cli (package-lock.json)
//   npm run slides    # runs this script
//
// HTML output needs no browser (only PDF, PNG and PPTX do). Marp inlines the theme's
// CSS and its small slide-navigation script; the one thing it would load from
// elsewhere is the gaia theme's web-font @import, which this script removes, so the
// deck renders the same with no network (the theme falls back to local fonts).
import { readFileSync, writeFileSync } from 'node:fs'
import { marpCli } from '@marp-team/marp-cli'

// Another deck and file may be named (tests/rendered.rs renders a small one of its own):
//   node slides/render.mjs [INPUT.md [OUTPUT.html]]
const [input = 'slides/lecture.md', output = 'target/slides/lecture.html'] = process.argv.slice(2)

const status = await marpCli(['--no-stdin', input, '-o', output])
if (status !== 0) process.exit(status)

const html = readFileSync(output, 'utf8')
const offline = html.replace(/@import\s+(?:url\()?["']?https?:\/\/[^;]*;/g, '')
// Anything still fetched from the network would break "self-contained": refuse it.
const remote = offline.match(/(?:src|href)=["']https?:\/\/[^"']*|url\(["']?https?:\/\/[^)]*/g)
if (remote) {
  console.error(`${output} still loads from the network:\n${remote.join('\n')}`)
  process.exit(1)
}
writeFileSync(output, offline)
console.log(`wrote ${output} (${Math.round(offline.length / 1024)} KiB, self-contained)`)
