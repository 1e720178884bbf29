//! The results of a benchmark run: rows of numbers against their targets,
//! printed as a table and written into `BENCHMARKS.md` between the markers
//! `<!-- throughput:begin -->` and `<!-- throughput:end -->`, leaving every
//! other part of the file (other benchmarks' sections) as it was.

use std::fmt::Write as _;
use std::path::Path;

pub const BEGIN: &str = "<!-- throughput:begin -->";
pub const END: &str = "<!-- throughput:end -->";

/// One measured number.
#[derive(Debug, Clone)]
pub struct Row {
    pub benchmark: &'static str,
    pub what: String,
    pub value: String,
    /// The target, or empty for a number shown for context.
    pub target: String,
    pub met: Option<bool>,
}

impl Row {
    pub fn info(benchmark: &'static str, what: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            benchmark,
            what: what.into(),
            value: value.into(),
            target: String::new(),
            met: None,
        }
    }

    pub fn target(
        benchmark: &'static str,
        what: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) -> Row {
        Row {
            benchmark,
            what: what.into(),
            value: value.into(),
            target: target.into(),
            met: Some(met),
        }
    }
}

/// Everything one run measured, with where and how.
#[derive(Debug, Default)]
pub struct Report {
    pub machine: String,
    pub load_before: String,
    pub date: String,
    pub command: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// The command that reruns this release binary of the bench crate with
/// the arguments it was given: what a report names as its command.
pub fn release_command(bin: &str) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p bench --bin {bin} -- {}",
        args.join(" ")
    )
}

impl Report {
    /// An empty report of a run started now by `command`: the machine, the
    /// date and the load average filled in.
    pub fn now(command: &str) -> Report {
        Report {
            machine: crate::throughput::procs::machine(),
            load_before: crate::throughput::procs::load_average(),
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            command: command.to_string(),
            ..Default::default()
        }
    }

    /// The results as a Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| benchmark | measured | value | target | met |\n");
        out.push_str("|---|---|---:|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.benchmark, r.what, r.value, r.target, met
            );
        }
        out
    }

    /// A section's title and where, when and how it was measured: every
    /// benchmark's section of `BENCHMARKS.md` starts with it.
    pub fn header(&self, title: &str) -> String {
        let mut out = format!("## {title}\n\n");
        let _ = writeln!(out, "- Machine: {}", self.machine);
        let _ = writeln!(out, "- Date: {}", self.date);
        let _ = writeln!(out, "- Command: `{}`", self.command);
        out
    }

    /// The section written between the markers.
    pub fn section(&self) -> String {
        let mut out = self.header("Throughput and memory");
        let _ = writeln!(
            out,
            "- Load average (1 min) when the run started: {} (the machine is shared: \
             compare the ratios measured in the same run, not absolute numbers across runs)",
            self.load_before
        );
        out.push('\n');
        out.push_str(&self.table());
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    /// Rewrites the part of `path` between the markers (creating the file,
    /// or appending the markers, when missing).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        write_between(path, BEGIN, END, &self.section())
    }
}

/// Prints a benchmark's `section` and, with `--write PATH`, puts it into
/// that file between its markers.
pub fn publish(section: &str, write: Option<&Path>, begin: &str, end: &str) -> anyhow::Result<()> {
    print!("{section}");
    if let Some(path) = write {
        write_between(path, begin, end, section)?;
        println!("written to {}", path.display());
    }
    Ok(())
}

/// Rewrites the part of `path` between the markers `begin` and `end` with
/// `section` (creating the file, or appending the markers, when missing),
/// leaving the rest of the file as it was. Every benchmark that records its
/// own section of `BENCHMARKS.md` writes it with this.
pub fn write_between(path: &Path, begin: &str, end: &str, section: &str) -> anyhow::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_string(),
        Err(e) => return Err(e.into()),
    };
    std::fs::write(path, splice_between(&old, begin, end, section))?;
    Ok(())
}

/// `text` with what lies between the markers replaced by `section`.
#[cfg(test)]
fn splice(text: &str, section: &str) -> String {
    splice_between(text, BEGIN, END, section)
}

fn splice_between(text: &str, begin: &str, end: &str, section: &str) -> String {
    let block = format!("{begin}\n{section}{end}");
    match (text.find(begin), text.find(end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &text[..b], &text[e + end.len()..])
        }
        _ => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{text}{sep}{block}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_between_markers_only() {
        let other = "<!-- yield:begin -->\nyield table\n<!-- yield:end -->\n";
        let first = splice(&format!("# Benchmarks\n\n{other}"), "one\n");
        assert_eq!(
            first,
            format!("# Benchmarks\n\n{other}\n{BEGIN}\none\n{END}\n")
        );
        let second = splice(&first, "two\n");
        assert_eq!(
            second,
            format!("# Benchmarks\n\n{other}\n{BEGIN}\ntwo\n{END}\n")
        );
        assert_eq!(splice("", "x\n"), format!("{BEGIN}\nx\n{END}\n"));
        // An end marker before the begin marker is not a section.
        let crossed = format!("{END} {BEGIN}");
        assert_eq!(
            splice(&crossed, "x\n"),
            format!("{crossed}\n\n{BEGIN}\nx\n{END}\n")
        );
    }
}
