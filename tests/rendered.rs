//! The deck and the side-by-side page, seen as a person sees them: rendered in headless
//! Chromium at 1280×720, and measured there.
//!
//! A slide whose content does not fit its 1280×720 frame is cut off or collides with the
//! page number when projected, and no text test notices; a page wider than the window
//! gets a horizontal scroll bar. This test renders both, as a browser does, and fails
//! naming the slide (number and heading) or the elements that stick out.
//!
//! How, without a devtools client: a copy of each page gets `tests/rendered/measure.js`
//! appended, which measures once the page has loaded and writes its findings into the
//! page; `chromium --headless --dump-dom` prints the page, and this file reads them back.
//! The deck is rendered by Marp first (`slides/render.mjs`, the same script as
//! `npm run slides`), into a directory of its own, so `target/slides/` is left alone.
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`; or set `CHROMIUM` to
//! another Chrome) and Node with the deck's packages (`npm ci`); without them the tests
//! fail saying so. `.ci/run` installs both when they are missing.

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows unwrap/expect only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use users_course::anchors::workspace_root;

/// The measuring script, appended to every page this test opens.
const MEASURE: &str = include_str!("rendered/measure.js");

/// The window: the frame Marp draws a slide in, and the page width the brief names.
const WINDOW: &str = "1280,720";

/// One slide's measurement.
#[derive(Debug, PartialEq)]
struct Slide {
    number: usize,
    heading: String,
    /// Empty when the slide fits.
    problems: String,
}

/// What the script found on one page.
#[derive(Debug, Default)]
struct Report {
    /// The page's `scrollWidth` and `clientWidth`: a scroll bar when the first is larger.
    page_width: (u32, u32),
    /// The outermost elements past the window's right edge (only when there are some).
    wide: Vec<String>,
    slides: Vec<Slide>,
}

impl Report {
    /// The slides that do not fit, one line each: `slide 22 "Comparing the tiers": ...`.
    fn overflowing(&self) -> Vec<String> {
        self.slides
            .iter()
            .filter(|slide| !slide.problems.is_empty())
            .map(|slide| {
                format!(
                    "slide {} \"{}\": {}",
                    slide.number, slide.heading, slide.problems
                )
            })
            .collect()
    }

    /// `Some(why)` when the page scrolls sideways.
    fn horizontal_scroll(&self) -> Option<String> {
        let (scroll, client) = self.page_width;
        (scroll > client).then(|| {
            format!(
                "the page is {scroll}px wide in a {client}px window; sticking out: {}",
                self.wide.join(", ")
            )
        })
    }
}

/// Undoes the escaping `--dump-dom` applies to text.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Reads the script's findings out of a dumped page.
fn parse(dom: &str) -> Result<Report, String> {
    // The last one: the script's own text mentions the id too.
    let start = dom.rfind("<pre id=\"rendered-report\"").ok_or_else(|| {
        let from = dom.char_indices().rev().nth(300).map_or(0, |(at, _)| at);
        format!(
            "the measuring script wrote no report ({} bytes of page, ending {:?})",
            dom.len(),
            &dom[from..]
        )
    })?;
    let body = &dom[start..];
    let body = &body[body.find('>').ok_or("a cut-off report")? + 1..];
    let body = unescape(&body[..body.find("</pre>").ok_or("a cut-off report")?]);
    let mut report = Report::default();
    let mut ended = false;
    for line in body.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let number = |index: usize| -> Result<u32, String> {
            fields
                .get(index)
                .and_then(|field| field.parse().ok())
                .ok_or_else(|| format!("a malformed report line: {line:?}"))
        };
        match fields[0] {
            "PAGE" => report.page_width = (number(1)?, number(2)?),
            "WIDE" => report
                .wide
                .push(format!("{} (to {}px)", fields[1], number(2)?)),
            "SLIDE" => report.slides.push(Slide {
                number: number(1)? as usize,
                heading: fields.get(2).unwrap_or(&"").to_string(),
                problems: fields.get(3).unwrap_or(&"").to_string(),
            }),
            "ERROR" => return Err(fields[1..].join(" ")),
            "END" => ended = true,
            _ => return Err(format!("an unknown report line: {line:?}")),
        }
    }
    if ended {
        Ok(report)
    } else {
        Err(format!("the measuring script stopped early:\n{body}"))
    }
}

/// A scratch directory for one test, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("rendered")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// The browser: `$CHROMIUM`, else Debian's `chromium`, else the other usual names.
fn chromium() -> String {
    let candidates: Vec<String> = std::env::var("CHROMIUM")
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(String::from))
        .collect();
    for candidate in &candidates {
        let found = Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if found {
            return candidate.clone();
        }
    }
    panic!(
        "no Chromium found (tried {candidates:?}): this test renders the slides and the \
         side-by-side page in a headless browser. Install Debian's with \
         `apt-get install -y chromium`, or set CHROMIUM=/path/to/chrome"
    );
}

/// Runs `command`, killing it after `limit`; its standard output on success. Output
/// goes through files in `dir` (each test has its own), never a pipe that a chatty
/// browser could fill while nobody reads it.
fn run_with_limit(mut command: Command, dir: &Path, limit: Duration, what: &str) -> String {
    let name = what.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let (out_path, err_path) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let file = |path: &Path| std::fs::File::create(path).expect("a file for the output");
    let mut child = command
        .stdout(file(&out_path))
        .stderr(file(&err_path))
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !status.success() {
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        panic!("{what} failed ({status}):\n{output}\n{stderr}");
    }
    output
}

/// Writes a copy of `page` into `dir` with the measuring script appended; its path.
fn with_script(page: &Path, dir: &Path) -> PathBuf {
    let html = std::fs::read_to_string(page)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", page.display()));
    let end = html.rfind("</body>").unwrap_or(html.len());
    let copy = dir.join("measured.html");
    let script = format!("<script>\n{MEASURE}\n</script>\n");
    std::fs::write(&copy, [&html[..end], &script, &html[end..]].concat())
        .expect("write the measured copy");
    copy
}

/// Opens `page` in headless Chromium at 1280×720; the page as it then is.
fn dump_dom(page: &Path, dir: &Path) -> String {
    let mut command = Command::new(chromium());
    command
        // No sandbox: CI runs as root, where Chromium refuses to start with one.
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(["--no-first-run", "--disable-extensions"])
        // A profile of its own: two browsers sharing one would wait on its lock.
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--window-size={WINDOW}"))
        // Time for the load event when the page has images (the script then waits for
        // it), counted in the page's virtual time rather than waited for in real time.
        .arg("--virtual-time-budget=5000")
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()));
    let dom = run_with_limit(command, dir, Duration::from_secs(60), "chromium");
    // The profile is most of the directory; the pages stay for a failing test's reader.
    let _ = std::fs::remove_dir_all(dir.join("profile"));
    dom
}

/// Measures `page` as a person would see it at 1280×720.
fn measure(page: &Path, dir: &Path) -> Report {
    let dom = dump_dom(&with_script(page, dir), dir);
    parse(&dom).unwrap_or_else(|why| panic!("{}: {why}", page.display()))
}

/// Renders a Marp deck to HTML with `slides/render.mjs` (what `npm run slides` runs).
fn render_deck(deck: &Path, html: &Path, dir: &Path) {
    let root = workspace_root();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        node_ok,
        "no `node` on PATH: the deck is rendered with Marp, which runs on Node.js. \
         Install Node.js 18 or newer (Debian: `apt-get install -y nodejs npm`), then \
         run `npm ci` in {}",
        root.display()
    );
    assert!(
        root.join("node_modules/@marp-team/marp-cli").is_dir(),
        "Marp is not installed: run `npm ci` in {} (once; it installs the pinned \
         @marp-team/marp-cli from package-lock.json)",
        root.display()
    );
    let mut command = Command::new("node");
    command
        .current_dir(&root)
        .arg("slides/render.mjs")
        .arg(deck)
        .arg(html);
    run_with_limit(command, dir, Duration::from_secs(60), "marp");
}

/// The lecture's front matter (`---` to `---`), so a test deck has the lecture's style.
fn front_matter() -> String {
    let lecture = std::fs::read_to_string(workspace_root().join("slides/lecture.md"))
        .expect("read slides/lecture.md");
    let body = lecture.strip_prefix("---\n").expect("a front matter");
    let end = body.find("\n---\n").expect("the front matter's end");
    format!("---\n{}\n---\n", &body[..end])
}

#[test]
fn every_slide_of_the_deck_fits_its_frame() {
    let dir = scratch("deck");
    let html = dir.join("lecture.html");
    render_deck(&workspace_root().join("slides/lecture.md"), &html, &dir);
    let report = measure(&html, &dir);
    // Every slide measured: two `---` open and close the front matter, every other one
    // outside a code fence starts a slide.
    let mut in_fence = false;
    let separators = std::fs::read_to_string(workspace_root().join("slides/lecture.md"))
        .unwrap()
        .lines()
        .filter(|line| {
            in_fence ^= line.starts_with("```");
            !in_fence && *line == "---"
        })
        .count();
    assert_eq!(report.slides.len(), separators - 1, "slides measured");
    let overflowing = report.overflowing();
    assert!(
        overflowing.is_empty(),
        "{} of {} slides do not fit their 1280×720 frame:\n{}\n(render the deck with \
         `npm run slides` and open target/slides/lecture.html#N to see one)",
        overflowing.len(),
        report.slides.len(),
        overflowing.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_side_by_side_page_has_no_horizontal_scroll_bar() {
    let dir = scratch("side-by-side");
    let html = dir.join("side-by-side.html");
    let output = Command::new(env!("CARGO_BIN_EXE_side-by-side"))
        .arg("--html")
        .arg(&html)
        .output()
        .expect("run side-by-side");
    assert!(output.status.success(), "{output:?}");
    let report = measure(&html, &dir);
    assert!(report.slides.is_empty());
    assert_eq!(report.horizontal_scroll(), None, "at 1280 px");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The check can fail: a deck with the lecture's style and three slides that do not fit:
/// too long, too wide, and a code block Marp had to shrink below legibility.
#[test]
fn a_slide_that_overflows_is_named() {
    let dir = scratch("overflow");
    let deck = dir.join("deck.md");
    let bullets: String = (1..=30).map(|n| format!("- point {n}\n")).collect();
    let row = |cell: &str| format!("|{}\n", format!(" {cell} |").repeat(8));
    let table = row("column") + &row("---") + &row("an_identifier_too_long_to_break");
    let code = format!("```rust\nlet x = \"{}\";\n```\n", "c".repeat(300));
    let slides = [
        "## Fits\n\nOne line.\n".to_owned(),
        format!("## Too long\n\n{bullets}"),
        format!("## Too wide\n\n{table}"),
        format!("## Code shrunk\n\n{code}"),
    ];
    std::fs::write(&deck, front_matter() + "\n" + &slides.join("\n---\n\n")).unwrap();
    let html = dir.join("deck.html");
    render_deck(&deck, &html, &dir);
    let report = measure(&html, &dir);
    let headings: Vec<&str> = report.slides.iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(headings, ["Fits", "Too long", "Too wide", "Code shrunk"]);
    let overflowing = report.overflowing();
    assert_eq!(overflowing.len(), 3, "{overflowing:#?}");
    for (found, (start, why)) in overflowing.iter().zip([
        ("slide 2 \"Too long\": ", "px past the frame's bottom edge"),
        ("slide 3 \"Too wide\": ", "px past the frame's right edge"),
        ("slide 4 \"Code shrunk\": ", "shrunk to"),
    ]) {
        assert!(
            found.starts_with(start) && found.contains(why),
            "{overflowing:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The check can fail: a page with a 1600 px wide element scrolls sideways.
#[test]
fn a_page_wider_than_the_window_is_caught() {
    let dir = scratch("wide");
    let page = dir.join("wide.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>fits</p>\
         <div class=\"too-wide\" style=\"width:1600px\">wide</div></body></html>",
    )
    .unwrap();
    let report = measure(&page, &dir);
    let why = report.horizontal_scroll().expect("a horizontal scroll bar");
    assert!(why.contains("div.too-wide"), "{why}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reports_are_parsed_and_a_missing_one_is_an_error() {
    let dom = "<script>// id rendered-report</script><pre id=\"rendered-report\" \
               style=\"display: none;\">PAGE\t1300\t1280\nWIDE\tdiv.x\t1300\n\
               SLIDE\t1\tA &amp; B\t\nSLIDE\t2\tC\tcontent 4px too tall\nEND</pre>";
    let report = parse(dom).unwrap();
    assert_eq!(report.page_width, (1300, 1280));
    assert_eq!(report.slides[0].heading, "A & B");
    assert_eq!(
        report.overflowing(),
        ["slide 2 \"C\": content 4px too tall"]
    );
    assert!(
        report
            .horizontal_scroll()
            .unwrap()
            .contains("div.x (to 1300px)")
    );
    assert!(parse("<html></html>").is_err());
    let error = "<pre id=\"rendered-report\">ERROR\tMarp changed\nEND</pre>";
    assert_eq!(parse(error).unwrap_err(), "Marp changed");
    // A report without END: the script died half-way.
    assert!(parse("<pre id=\"rendered-report\">PAGE\t1\t1</pre>").is_err());
}

/// A page that claims Marp's auto-scaling without Marp's elements (as a newer Marp might
/// build it) is reported as unmeasurable, not measured half laid out.
#[test]
fn a_page_the_script_cannot_settle_is_an_error() {
    let dir = scratch("unsettled");
    let page = dir.join("unsettled.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><pre data-auto-scaling><code>x</code></pre></body></html>",
    )
    .unwrap();
    let dom = dump_dom(&with_script(&page, &dir), &dir);
    let why = parse(&dom).unwrap_err();
    assert!(why.contains("Marp's auto-scaling is not built"), "{why}");
    let _ = std::fs::remove_dir_all(&dir);
}
