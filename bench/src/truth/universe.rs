//! A known universe: a closed topic whose every member is written down
//! (`bench/data/universes/*.txt`), and the lookup from a stored line to the
//! member it names.
//!
//! Pure. A line matches when its normalised form (case, diacritics,
//! apostrophes and periods dropped, other punctuation as spaces, `&` as
//! "and", a leading "The") equals a member's name or one of its listed
//! aliases; a trailing parenthetical ("Georgia (country)") is tried off
//! when the whole line does not match. "Republic of", "State of" and the
//! like are never stripped: they match only where a file lists them.

use std::collections::HashMap;

/// The universes shipped with the benchmark: (name, file text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "us-states",
        include_str!("../../data/universes/us-states.txt"),
    ),
    (
        "chemical-elements",
        include_str!("../../data/universes/chemical-elements.txt"),
    ),
    (
        "countries",
        include_str!("../../data/universes/countries.txt"),
    ),
];

/// One member: its name, then the other spellings that name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub aliases: Vec<String>,
}

/// What a line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The member (its index), by its name.
    Name(usize),
    /// The member, by an alias: another spelling, a code, a former name.
    Alias(usize),
    /// No member.
    None,
}

impl Match {
    pub fn member(self) -> Option<usize> {
        match self {
            Match::Name(i) | Match::Alias(i) => Some(i),
            Match::None => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Universe {
    /// The file's name without `.txt`: what `--universe` takes.
    pub name: String,
    /// The phrase the prompts put in (`topic:`).
    pub topic: String,
    pub members: Vec<Member>,
    /// Normalised spelling → (member, is an alias).
    index: HashMap<String, (usize, bool)>,
}

impl Universe {
    /// Reads a universe file; a normalised spelling naming two members is
    /// an error, so a match is never ambiguous.
    pub fn parse(name: &str, text: &str) -> Result<Universe, String> {
        let mut topic = None;
        let mut members = Vec::new();
        let mut index = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(t) = line.strip_prefix("topic:") {
                topic = Some(t.trim().to_string());
                continue;
            }
            let mut spellings = line.split('|').map(str::trim);
            let first = spellings.next().unwrap_or_default().to_string();
            let aliases: Vec<String> = spellings.map(str::to_string).collect();
            let id = members.len();
            for (spelling, alias) in
                std::iter::once((&first, false)).chain(aliases.iter().map(|a| (a, true)))
            {
                let key = normalize(spelling);
                if key.is_empty() {
                    return Err(format!("{name}:{}: empty spelling", n + 1));
                }
                match index.insert(key.clone(), (id, alias)) {
                    Some((other, _)) if other != id => {
                        return Err(format!(
                            "{name}:{}: {spelling:?} ({key}) also names member {}",
                            n + 1,
                            other + 1
                        ));
                    }
                    // A member listing a spelling twice keeps it as its name.
                    Some((_, false)) => {
                        index.insert(key, (id, false));
                    }
                    _ => {}
                }
            }
            members.push(Member {
                name: first,
                aliases,
            });
        }
        let topic = topic.ok_or_else(|| format!("{name}: no `topic:` line"))?;
        Ok(Universe {
            name: name.to_string(),
            topic,
            members,
            index,
        })
    }

    /// The shipped universes, or those named (by file name).
    pub fn builtin(only: &[String]) -> Result<Vec<Universe>, String> {
        for wanted in only {
            if !BUILTIN.iter().any(|(n, _)| n == wanted) {
                let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "no universe {wanted:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
        BUILTIN
            .iter()
            .filter(|(n, _)| only.is_empty() || only.iter().any(|w| w == n))
            .map(|(n, text)| Universe::parse(n, text))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member `line` names, if any.
    pub fn find(&self, line: &str) -> Match {
        let found = self.lookup(&normalize(line)).or_else(|| {
            let head = line.trim_end();
            let head = head.strip_suffix(')')?.rsplit_once('(')?.0;
            self.lookup(&normalize(head))
        });
        match found {
            Some((i, false)) => Match::Name(i),
            Some((i, true)) => Match::Alias(i),
            None => Match::None,
        }
    }

    fn lookup(&self, key: &str) -> Option<(usize, bool)> {
        (!key.is_empty())
            .then(|| self.index.get(key).copied())
            .flatten()
    }
}

/// The form a line and a spelling are compared in: lower case without
/// diacritics; apostrophes and periods dropped ("Hawai'i", "U.S."), `&` as
/// "and", every other run of non-alphanumerics one space; a leading "the".
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars().flat_map(fold) {
        if matches!(c, '\'' | '’' | 'ʻ' | 'ʼ' | '`' | '´' | '.') {
            // Dropped (the ʻokina too, a letter to Unicode): "Côte
            // d'Ivoire" and "Cote dIvoire" are one spelling.
        } else if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else if c == '&' {
            out.push_str(if out.is_empty() { "and" } else { " and" });
            space = true;
        } else {
            space = true;
        }
    }
    match out.strip_prefix("the ") {
        Some(rest) => rest.to_string(),
        None => out,
    }
}

/// A letter without its diacritic: the Latin letters with diacritics that
/// English names of places and elements use, each folded to its base.
fn fold(c: char) -> impl Iterator<Item = char> {
    let folded: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'ć' | 'č' | 'Ç' | 'Ć' | 'Č' => "c",
        'ď' | 'đ' | 'Ď' | 'Đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' => "e",
        'ğ' | 'Ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'İ' => "i",
        'ł' | 'Ł' => "l",
        'ñ' | 'ń' | 'ň' | 'Ñ' | 'Ń' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' => "o",
        'œ' | 'Œ' => "oe",
        'ř' | 'Ř' => "r",
        'ś' | 'š' | 'ş' | 'ș' | 'Ś' | 'Š' | 'Ş' | 'Ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' | 'Ť' | 'Ţ' | 'Ț' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ź' | 'ż' | 'ž' | 'Ź' | 'Ż' | 'Ž' => "z",
        _ => "",
    };
    let own = folded.is_empty().then_some(c);
    folded.chars().chain(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Universe> {
        Universe::builtin(&[]).expect("the shipped universes parse")
    }

    fn get(name: &str) -> Universe {
        all().into_iter().find(|u| u.name == name).unwrap()
    }

    #[test]
    fn sizes() {
        let sizes: Vec<(String, usize)> = all().iter().map(|u| (u.name.clone(), u.len())).collect();
        assert_eq!(
            sizes,
            [
                ("us-states".to_string(), 50),
                ("chemical-elements".to_string(), 118),
                ("countries".to_string(), 193),
            ]
        );
    }

    #[test]
    fn every_spelling_resolves_to_its_member() {
        for u in all() {
            for (i, m) in u.members.iter().enumerate() {
                assert_eq!(u.find(&m.name), Match::Name(i), "{}: {}", u.name, m.name);
                for a in &m.aliases {
                    assert_eq!(u.find(a), Match::Alias(i), "{}: {a} of {}", u.name, m.name);
                }
            }
        }
    }

    #[test]
    fn no_spelling_names_two_members() {
        let err = Universe::parse("t", "topic: t\nGeorgia | GA\nGabon | GA\n").unwrap_err();
        assert!(err.contains("also names member 1"), "{err}");
        assert!(Universe::parse("t", "Georgia\n").is_err(), "no topic line");
    }

    fn check(universe: &str, line: &str, expected: Option<&str>) {
        let u = get(universe);
        let got = u.find(line).member().map(|i| u.members[i].name.as_str());
        assert_eq!(got, expected, "{universe}: {line:?}");
    }

    #[test]
    fn matching() {
        for (universe, line, expected) in [
            ("us-states", "new york", Some("New York")),
            ("us-states", "NY", Some("New York")),
            ("us-states", "The State of New York", Some("New York")),
            ("us-states", "Hawaiʻi", Some("Hawaii")),
            ("us-states", "Washington (state)", Some("Washington")),
            ("us-states", "Washington, D.C.", None),
            ("us-states", "Puerto Rico", None),
            ("chemical-elements", "Aluminum", Some("Aluminium")),
            ("chemical-elements", "sulphur", Some("Sulfur")),
            ("chemical-elements", "Cesium", Some("Caesium")),
            ("chemical-elements", "Fe", Some("Iron")),
            ("chemical-elements", "Steel", None),
            ("countries", "Cote d'Ivoire", Some("Côte d'Ivoire")),
            ("countries", "côte d’ivoire", Some("Côte d'Ivoire")),
            ("countries", "Ivory Coast", Some("Côte d'Ivoire")),
            ("countries", "Czech Republic", Some("Czechia")),
            ("countries", "Burma", Some("Myanmar")),
            ("countries", "Swaziland", Some("Eswatini")),
            ("countries", "The Gambia", Some("Gambia")),
            ("countries", "U.S.A.", Some("United States")),
            (
                "countries",
                "Antigua & Barbuda",
                Some("Antigua and Barbuda"),
            ),
            (
                "countries",
                "Sao Tome and Principe",
                Some("São Tomé and Príncipe"),
            ),
            ("countries", "Guinea-Bissau", Some("Guinea-Bissau")),
            ("countries", "Guinea Bissau", Some("Guinea-Bissau")),
            ("countries", "Congo", Some("Republic of the Congo")),
            (
                "countries",
                "Democratic Republic of Congo",
                Some("Democratic Republic of the Congo"),
            ),
            ("countries", "Republic of France", None),
            ("countries", "Taiwan", None),
            ("countries", "Palestine", None),
        ] {
            check(universe, line, expected);
        }
    }

    #[test]
    fn normal_forms() {
        for (raw, expected) in [
            ("  The  Netherlands ", "netherlands"),
            ("Thebes", "thebes"),
            ("St. Lucia", "st lucia"),
            ("Bosnia-Herzegovina", "bosnia herzegovina"),
            ("& Co", "and co"),
            ("Türkiye", "turkiye"),
        ] {
            assert_eq!(normalize(raw), expected, "{raw:?}");
        }
    }
}
