//! Writing the report's three files: `report.md` (the Markdown as printed),
//! `report.json` (every figure, for other tools) and `report.svg` (the chart).

use std::path::Path;

use anyhow::Context as _;

use super::Report;

/// Writes report.md, report.json and report.svg into `dir`, saying each on stderr.
/// `markdown` is [`Report::markdown`], passed in because the caller prints it too.
pub fn write_files(report: &Report, markdown: &str, dir: &Path) -> anyhow::Result<()> {
    let write = |name: &str, contents: &[u8]| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
        Ok(())
    };
    write("report.md", markdown.as_bytes())?;
    let json = serde_json::to_string_pretty(report)?;
    write("report.json", json.as_bytes())?;
    let svg = crate::chart::svg(report)?;
    write("report.svg", svg.as_bytes())?;
    Ok(())
}
