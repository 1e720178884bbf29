//! A strict reader of the Prometheus text exposition format (0.0.4), to
//! check what `/metrics` serves: metric and label names, label-value
//! escapes, values, `# HELP` / `# TYPE` before a family's samples and at
//! most once, each family's samples together, no series twice, counters
//! named `_total`. It returns the samples so tests can check values too.

use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of `text`, or what is wrong with it (with the line).
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition must end with a line feed".into());
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();

    for (n, line) in text.lines().enumerate() {
        let fail = |why: &str| Err(format!("line {}: {why}: {line:?}", n + 1));
        if line.is_empty() {
            return fail("empty line");
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let Some(name) = parts.next().filter(|name| metric_name(name)) else {
                return fail("bad metric name");
            };
            let rest = parts.next().unwrap_or("");
            if finished.contains(name)
                || (current.as_deref() != Some(name) && types.contains_key(name))
            {
                return fail("family declared again after its samples");
            }
            switch_family(&mut current, &mut finished, name);
            if keyword == "HELP" {
                if !helps.insert(name.to_string()) {
                    return fail("second HELP");
                }
                if !help_escapes_ok(rest) {
                    return fail("bad escape in HELP");
                }
            } else {
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest) {
                    return fail("unknown TYPE");
                }
                if types.insert(name.to_string(), rest.to_string()).is_some() {
                    return fail("second TYPE");
                }
                if rest == "counter" && !name.ends_with("_total") {
                    return fail("counter not named _total");
                }
            }
            continue;
        }
        let sample = match sample(line) {
            Ok(sample) => sample,
            Err(why) => return fail(&why),
        };
        if !types.contains_key(&sample.name) {
            return fail("sample before its TYPE");
        }
        if finished.contains(&sample.name) {
            return fail("family's samples are not together");
        }
        switch_family(&mut current, &mut finished, &sample.name);
        let key = format!("{}{:?}", sample.name, sample.labels);
        if !series.insert(key) {
            return fail("series repeated");
        }
        samples.push(sample);
    }
    Ok(samples)
}

fn switch_family(current: &mut Option<String>, finished: &mut HashSet<String>, name: &str) {
    if current.as_deref() != Some(name) {
        if let Some(previous) = current.take() {
            finished.insert(previous);
        }
        *current = Some(name.to_string());
    }
}

fn metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn help_escapes_ok(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return false;
        }
    }
    true
}

fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or("no value after the metric name")?;
    let name = &line[..name_end];
    if !metric_name(name) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = label_set(after)?;
        labels = parsed;
        rest = remaining;
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value_text = fields.next().ok_or("no value")?;
    let value = match value_text {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        text => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}"))?,
    };
    if let Some(ts) = fields.next()
        && ts.parse::<i64>().is_err()
    {
        return Err(format!("bad timestamp {ts:?}"));
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `name="value",...}` → the labels and what follows the `}`.
fn label_set(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = &s[..eq];
        if !label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = s[eq + 1..].char_indices();
        if !matches!(chars.next(), Some((_, '"'))) {
            return Err("label value not quoted".into());
        }
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break eq + 1 + i + 1,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape in label value: {other:?}")),
                },
                Some((_, '\n')) => return Err("raw line feed in label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        s = &s[end..];
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("labels not separated by ','".into());
        }
    }
}

/// The reader refuses what it should: checked once, beside its use.
pub fn self_check() {
    let good = "# HELP a_total A \\\\ b\\n.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\na_total 2.5\n\
                # TYPE b gauge\nb NaN\nb{y=\"\"} -Inf 123\n";
    let samples = parse(good).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(samples[0].labels["x"], "q\"\\\n");
    for bad in [
        "a 1\n",                                                    // no TYPE
        "# TYPE a gauge\na 1",                                      // no final line feed
        "# TYPE a gauge\na{x=\"1\"} 1\n# TYPE b gauge\nb 1\na 2\n", // split family
        "# TYPE a gauge\na 1\na 2\n",                               // repeated series
        "# TYPE a counter\na 1\n",                                  // counter without _total
        "# TYPE a gauge\na{x=\"\\t\"} 1\n",                         // bad escape
        "# TYPE a gauge\na{x=1} 1\n",                               // unquoted
        "# TYPE a gauge\na{1x=\"1\"} 1\n",                          // bad label name
        "# TYPE a gauge\na{x=\"1\" y=\"2\"} 1\n",                   // no comma
        "# TYPE a gauge\na one\n",                                  // bad value
        "# TYPE a gauge\n# TYPE a gauge\na 1\n",                    // two TYPEs
        "# TYPE 1a gauge\n",                                        // bad name
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}
