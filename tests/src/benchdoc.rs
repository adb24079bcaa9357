//! Recording benchmark results in BENCHMARKS.md, one section per benchmark, so each bench
//! binary replaces only its own part.

use std::path::PathBuf;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md")
}

/// Replaces (or appends) the section `name` with `body`, keeping the others.
pub fn record_section(name: &str, body: &str) -> std::io::Result<PathBuf> {
    let p = path();
    let current = std::fs::read_to_string(&p).unwrap_or_else(|_| "# Benchmarks\n\nEach section below is written by `make bench`; rerun it to refresh them.\n".into());
    let start = format!("<!-- bench:{name} -->");
    let end = format!("<!-- /bench:{name} -->");
    let block = format!("{start}\n{}\n{end}", body.trim_end());
    let updated = match (current.find(&start), current.find(&end)) {
        (Some(a), Some(b)) if b > a => {
            format!("{}{}{}", &current[..a], block, &current[b + end.len()..])
        }
        _ => format!("{}\n{}\n", current.trim_end(), block),
    };
    std::fs::write(&p, updated)?;
    Ok(p)
}

/// The machine, for the record.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores")
}
