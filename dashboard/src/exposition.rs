//! A writer of the Prometheus text exposition format (version 0.0.4):
//! families in first-use order, each with its `# HELP` and `# TYPE` lines
//! followed by all of its samples however they were added, label values
//! and help texts escaped, values written the way Prometheus reads them.
//! What to expose is [`crate::prometheus`]'s business.

use std::collections::HashMap;
use std::fmt::Write;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A sample value: integers are written exactly, floats as Prometheus
/// reads them (`NaN`, `+Inf`, `-Inf`).
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Int(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(n.into())
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Int(b.into())
    }
}

struct Family {
    name: String,
    kind: Kind,
    help: &'static str,
    /// Rendered `{labels} value` lines without the name.
    samples: Vec<String>,
}

/// Families in first-use order, each with its samples.
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

impl Exposition {
    pub fn sample(
        &mut self,
        name: &str,
        kind: Kind,
        help: &'static str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        let at = match self.index.get(name) {
            Some(&at) => at,
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    kind,
                    help,
                    samples: Vec::new(),
                });
                self.index.insert(name.to_string(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        let family = &mut self.families[at];
        debug_assert_eq!(family.kind, kind, "{name} declared twice");
        let mut line = String::new();
        if !labels.is_empty() {
            line.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{label}=\"{}\"", escape_label(value));
            }
            line.push('}');
        }
        line.push(' ');
        line.push_str(&format_value(value.into()));
        family.samples.push(line);
    }

    pub fn gauge(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        self.sample(name, Kind::Gauge, help, labels, value);
    }

    pub fn counter(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        debug_assert!(name.ends_with("_total"), "{name}");
        self.sample(name, Kind::Counter, help, labels, value);
    }

    pub fn render(self) -> String {
        let mut out = String::new();
        for family in self.families {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
            let _ = writeln!(out, "# TYPE {} {kind}", family.name);
            for sample in family.samples {
                let _ = writeln!(out, "{}{sample}", family.name);
            }
        }
        out
    }
}

/// Backslash, double quote and line feed are the characters a label value
/// must escape.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

pub fn format_value(value: Value) -> String {
    match value {
        Value::Int(n) => n.to_string(),
        Value::Float(x) if x.is_nan() => "NaN".into(),
        Value::Float(x) if x == f64::INFINITY => "+Inf".into(),
        Value::Float(x) if x == f64::NEG_INFINITY => "-Inf".into(),
        Value::Float(x) => x.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        for (raw, escaped) in [
            ("sim", "sim"),
            (r#"a"b"#, r#"a\"b"#),
            (r"a\b", r"a\\b"),
            ("a\nb", r"a\nb"),
            (r#"\"\n"#, r#"\\\"\\n"#),
            ("Crème brûlée 東京", "Crème brûlée 東京"),
        ] {
            assert_eq!(escape_label(raw), escaped, "{raw:?}");
        }
    }

    #[test]
    fn values_read_as_prometheus_floats() {
        for (value, text) in [
            (Value::Int(0), "0"),
            (Value::Int(u64::MAX), "18446744073709551615"),
            (Value::Float(0.25), "0.25"),
            (Value::Float(1e-7), "0.0000001"),
            (Value::Float(f64::NAN), "NaN"),
            (Value::Float(f64::INFINITY), "+Inf"),
            (Value::Float(f64::NEG_INFINITY), "-Inf"),
            (Value::Float(3.0), "3"),
        ] {
            assert_eq!(format_value(value), text);
        }
    }

    #[test]
    fn families_stay_grouped_whatever_the_order_of_samples() {
        let mut x = Exposition::default();
        x.gauge("igentai_a", "A.", &[("p", "1")], 1u64);
        x.counter("igentai_b_total", "B.", &[], 2u64);
        x.gauge("igentai_a", "A.", &[("p", "2")], 3u64);
        assert_eq!(
            x.render(),
            "# HELP igentai_a A.\n# TYPE igentai_a gauge\nigentai_a{p=\"1\"} 1\nigentai_a{p=\"2\"} 3\n\
             # HELP igentai_b_total B.\n# TYPE igentai_b_total counter\nigentai_b_total 2\n"
        );
    }
}
