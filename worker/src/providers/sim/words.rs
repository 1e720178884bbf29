//! The words the sim's worlds are named with: the labels of each level of
//! sub-categories (kinds of places, then qualifiers, settings, aspects),
//! the prefixes and syllables of item names.

/// Level-1 sub-categories are kinds of places; an item carries its kind.
pub(super) const KINDS: &[&str] = &[
    "Gardens",
    "Museum",
    "Tower",
    "Market",
    "Bridge",
    "Gallery",
    "Cathedral",
    "Square",
    "Palace",
    "Theatre",
    "Park",
    "Library",
    "Abbey",
    "Fountain",
    "Passage",
    "Observatory",
    "Hall",
    "Arcade",
    "Chapel",
    "Quarter",
];
/// Level 2: "Historic museums".
pub(super) const QUALIFIERS: &[&str] = &[
    "Historic",
    "Hidden",
    "Modern",
    "Famous",
    "Small",
    "Riverside",
    "Free",
    "Royal",
    "Family-friendly",
    "Lesser-known",
    "Medieval",
    "Contemporary",
];
/// Level 3: "Historic museums by the river".
pub(super) const SETTINGS: &[&str] = &[
    "by the river",
    "in the old town",
    "on the left bank",
    "on the right bank",
    "in the north",
    "in the south",
    "in the east",
    "in the west",
    "in the suburbs",
    "near the station",
    "on the hills",
    "around the main square",
];
/// Level 4: "Historic museums by the river, open late".
pub(super) const ASPECTS: &[&str] = &[
    "open late",
    "for children",
    "with a view",
    "off the beaten path",
    "free on sundays",
    "with guided tours",
    "with a cafe",
    "rarely crowded",
    "recently restored",
    "seasonal",
    "by appointment",
    "with gardens",
];
pub(super) const PREFIXES: &[&str] = &[
    "Rue", "Place", "Mont", "Pont", "Porte", "Île", "Quai", "Saint",
];
pub(super) const CONSONANTS: &[u8] = b"bcdfglmnprstvz";
pub(super) const VOWELS: &[u8] = b"aeiou";

/// The labels of the sub-categories at `depth`.
pub(super) fn label_list(depth: u32) -> &'static [&'static str] {
    match depth {
        1 => KINDS,
        2 => QUALIFIERS,
        3 => SETTINGS,
        _ => ASPECTS,
    }
}

/// The plural of a kind: "Museum" → "Museums", "Gallery" → "Galleries".
pub(super) fn plural(kind: &str) -> String {
    match kind.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ if kind.ends_with('s') => kind.to_string(),
        _ => format!("{kind}s"),
    }
}
