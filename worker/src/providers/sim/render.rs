//! How the sim writes the items it chose, the way small chat models do:
//! list markers, a preamble and a closing remark, and (each at its
//! configured rate) descriptions after the name, other spellings of an item
//! the answer already named, a line echoing the prompt, placeholders where
//! the model ran out; or the same content as `{"items": [...]}` when the
//! request asks for JSON. Every line's meaning is kept in a [`Truth`].
//! Invented items are written exactly as known ones are (descriptions and
//! variants included): only their truth says they name nothing.
//!
//! An item's descriptions, places and native name are fixed by its id (two
//! of each at most), so a model describes an item in a few ways, not in
//! endlessly many: spellings per item stay bounded and repetition still
//! saturates, as with real models.

use super::knobs::SimConfig;
use super::truth::{Line, Shape, Truth};
use super::universe::{ROOT, Universe};
use crate::prompt::Prompt;
use crate::rng::Rng;

/// Remarks the sim adds after some names; the parser drops
/// them ("Name - remark").
const REMARKS: &[&str] = &[
    "a local favourite",
    "worth a detour",
    "best visited early",
    "often overlooked",
    "popular with families",
    "known for its history",
];

/// Where an item is "from", for qualifier variants ("Name (Lyon, France)").
const PLACES: &[&str] = &[
    "Bergamo, Italy",
    "Tuscany, Italy",
    "Lyon, France",
    "Provence, France",
    "Normandy, France",
    "Burgundy, France",
    "Montmartre, Paris",
    "Le Marais, Paris",
    "Left Bank, Paris",
    "Latin Quarter, Paris",
    "Ghent, Belgium",
    "Geneva, Switzerland",
];

/// What an item is known for, in descriptions.
const FEATURES: &[&str] = &[
    "its stained glass",
    "its rooftop terrace",
    "a spiral staircase",
    "its painted ceilings",
    "a quiet courtyard",
    "its night lights",
    "an old clock",
    "its iron gates",
    "marble floors",
    "street musicians",
    "long queues",
    "its sunday crowds",
];

/// Adjectives for worlds too shallow to have qualifiers.
const ADJECTIVES: &[&str] = &["charming", "quiet", "grand", "lively", "tiny", "busy"];

/// Kinds in the language of the place, for "Louvre Museum (Musée du
/// Louvre)"-style variants.
const NATIVE: &[(&str, &str)] = &[
    ("Gardens", "Jardins"),
    ("Museum", "Musée"),
    ("Tower", "Tour"),
    ("Market", "Marché"),
    ("Bridge", "Pont"),
    ("Gallery", "Galerie"),
    ("Cathedral", "Cathédrale"),
    ("Square", "Place"),
    ("Palace", "Palais"),
    ("Theatre", "Théâtre"),
    ("Park", "Parc"),
    ("Library", "Bibliothèque"),
    ("Abbey", "Abbaye"),
    ("Fountain", "Fontaine"),
    ("Passage", "Passage"),
    ("Observatory", "Observatoire"),
    ("Hall", "Halle"),
    ("Arcade", "Arcade"),
    ("Chapel", "Chapelle"),
    ("Quarter", "Quartier"),
    // Street prefixes, the other way round.
    ("Rue", "Street"),
    ("Place", "Square"),
    ("Mont", "Mount"),
    ("Pont", "Bridge"),
    ("Porte", "Gate"),
    ("Île", "Island"),
    ("Quai", "Quay"),
    ("Saint", "Saint"),
];

/// Echoes and placeholders are this much rarer in JSON answers: a schema
/// keeps a model to items, not to real ones.
pub const JSON_NOISE: f64 = 0.25;

/// An item to write: its id (of the world, or invented), and whether the
/// line re-names it in another spelling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub variant: bool,
}

/// `p > 0` and a draw under it. No draw at all when `p` is zero, so a sim
/// with every new rate at zero replays the answers it always gave.
pub fn maybe(rng: &mut Rng, p: f64) -> bool {
    p > 0.0 && rng.chance(p)
}

/// One line before formatting: the part a bold style emphasises and what
/// follows it.
struct Piece {
    head: String,
    tail: String,
    line: Line,
}

/// Writes `entries` as an answer to `prompt`: text (or JSON) and its truth.
pub fn render(
    universe: &Universe,
    entries: &[Entry],
    prompt: &Prompt,
    config: &SimConfig,
    json: bool,
    rng: &mut Rng,
) -> (String, Truth) {
    let preamble = !json && rng.chance(0.6);
    let style = if json { 0 } else { rng.below(4) };
    let mut pieces: Vec<Piece> = entries
        .iter()
        .map(|&e| write(universe, e, config, rng))
        .collect();
    let scale = if json { JSON_NOISE } else { 1.0 };
    if !pieces.is_empty() && maybe(rng, config.placeholder_rate * scale) {
        let k = (1 + rng.below(3)).min(pieces.len());
        let n = pieces.len();
        for (at, piece) in pieces.iter_mut().enumerate().skip(n - k) {
            *piece = placeholder(at + 1, rng);
        }
    }
    if maybe(rng, config.echo_rate * scale) {
        let at = match rng.chance(0.6) {
            true => 0,
            false => rng.below(pieces.len() + 1),
        };
        pieces.insert(at, echo(prompt, rng));
    }
    let truth = Truth {
        lines: pieces.iter().map(|p| p.line.clone()).collect(),
    };
    if json {
        let items: Vec<&str> = truth.lines.iter().map(|l| l.text.as_str()).collect();
        let text = serde_json::json!({ "items": items }).to_string();
        return (text, truth);
    }
    let mut out = String::new();
    if preamble {
        out.push_str(&format!("Here are {} {}:\n\n", entries.len(), prompt.topic));
    }
    for (n, p) in pieces.iter().enumerate() {
        let (head, tail) = (&p.head, &p.tail);
        let line = match style {
            0 => format!("{}. {head}{tail}", n + 1),
            1 => format!("{}. **{head}**{tail}", n + 1),
            2 => format!("- {head}{tail}"),
            _ => format!("* {head}{tail}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    if rng.chance(0.3) {
        out.push_str("\nLet me know if you would like more!");
    }
    (out, truth)
}

/// One item's line: a variant spelling, a name with a description, or the
/// name in the shapes every sim writes; any of them `Invented` when the
/// item is not of the world.
fn write(universe: &Universe, e: Entry, config: &SimConfig, rng: &mut Rng) -> Piece {
    let name = &universe.name_of(e.id);
    let item = universe.in_world(e.id).then_some(e.id);
    let shape = |shape| match item {
        Some(_) => shape,
        None => Shape::Invented,
    };
    if e.variant {
        let head = variant(universe, e.id, rng);
        return piece(head, String::new(), item, shape(Shape::Variant), None);
    }
    if maybe(rng, config.description_rate) {
        let description = describe(universe, e.id, rng);
        let tail = match rng.below(5) {
            0 => format!(" - {}", capitalized(&description)),
            1 => format!(": {description}"),
            2 => format!(", {description}"),
            3 => format!("; {}", description.trim_start_matches("a ")),
            _ => format!(" ({})", description.trim_start_matches("a ")),
        };
        return piece(
            name.clone(),
            tail,
            item,
            shape(Shape::Described),
            Some(description),
        );
    }
    let spelled = match rng.below(100) {
        0..=7 => format!("The {name}"),
        8..=11 => name.to_lowercase(),
        12..=15 => format!("{name}."),
        _ => name.clone(),
    };
    let tail = match rng.chance(0.1) {
        true => format!(" - {}", rng.pick(REMARKS)),
        false => String::new(),
    };
    piece(spelled, tail, item, shape(Shape::Name), None)
}

fn piece(
    head: String,
    tail: String,
    item: Option<u64>,
    shape: Shape,
    description: Option<String>,
) -> Piece {
    Piece {
        line: Line {
            text: format!("{head}{tail}"),
            item,
            shape,
            description,
        },
        head,
        tail,
    }
}

/// Another spelling of the item: with a place, a leading "The", its
/// native name, diacritics dropped, or a long parenthetical.
fn variant(universe: &Universe, id: u64, rng: &mut Rng) -> String {
    let name = &universe.name_of(id);
    match rng.below(20) {
        0..=6 => format!("{name} ({})", PLACES[own(id, PLACES.len(), rng)]),
        7..=9 => format!("The {name}"),
        10..=13 => match native(name) {
            Some(native) => format!("{name} ({native})"),
            None => format!("{name} ({})", PLACES[own(id, PLACES.len(), rng)]),
        },
        14..=15 if !name.is_ascii() => fold(name),
        _ => format!(
            "{name} ({})",
            describe(universe, id, rng).trim_start_matches("a ")
        ),
    }
}

/// One of the item's own two choices among `n`.
fn own(id: u64, n: usize, rng: &mut Rng) -> usize {
    let h = xxhash_rust::xxh3::xxh3_64(&id.to_le_bytes()) as usize;
    (h + rng.below(2)) % n
}

/// "a historic museum by the river" or "a historic museum known for its
/// night lights": from the sub-categories the item lies in.
fn describe(universe: &Universe, id: u64, rng: &mut Rng) -> String {
    let leaf = universe.leaf_of_id(id);
    let kind = if leaf == ROOT {
        "place".to_string()
    } else {
        universe.kind(leaf).to_lowercase()
    };
    let labels = universe.labels(leaf);
    let adjective = labels
        .first()
        .copied()
        .unwrap_or(ADJECTIVES[own(id, ADJECTIVES.len(), rng)]);
    match (rng.below(2), labels.get(1)) {
        (0, Some(setting)) => format!("a {adjective} {kind} {setting}"),
        _ => format!(
            "a {adjective} {kind} known for {}",
            FEATURES[own(id, FEATURES.len(), rng)]
        ),
    }
}

/// "Molavere Museum" → "Musée Molavere"; "Pont Dasilo" → "Dasilo Bridge".
fn native(name: &str) -> Option<String> {
    let (first, rest) = name.split_once(' ')?;
    if let Some((_, local)) = NATIVE.iter().find(|(k, _)| *k == rest) {
        return Some(format!("{local} {first}"));
    }
    let (_, local) = NATIVE.iter().find(|(k, _)| *k == first)?;
    Some(format!("{rest} {local}"))
}

/// Drops the diacritics the sim's names use.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'Î' => 'I',
            'î' | 'ï' => 'i',
            'é' | 'è' | 'ê' => 'e',
            'â' | 'à' => 'a',
            'ô' => 'o',
            'ç' => 'c',
            c => c,
        })
        .collect()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "2nd item", "Item 7": the model filling slots it has no item for.
fn placeholder(n: usize, rng: &mut Rng) -> Piece {
    let text = match rng.below(3) {
        0 | 1 => format!("{} item", ordinal(n)),
        _ => format!("Item {n}"),
    };
    piece(text, String::new(), None, Shape::Placeholder, None)
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A line of the prompt or the system text, repeated as an item: "20
/// distinct Paris attractions.", "You produce 20 distinct items."
fn echo(prompt: &Prompt, rng: &mut Rng) -> Piece {
    let first_sentence = |text: &str| -> String {
        let line = text.lines().next().unwrap_or_default();
        match line.find(". ") {
            Some(end) => line[..=end].to_string(),
            None => line.to_string(),
        }
    };
    let text = match rng.below(4) {
        0 => {
            let asked = first_sentence(&prompt.user);
            asked
                .strip_prefix("List ")
                .map(str::to_string)
                .unwrap_or(asked)
        }
        1 => first_sentence(&prompt.system),
        2 => format!("You produce {} distinct items.", prompt.count),
        _ => format!("{} distinct {}.", prompt.count, prompt.topic),
    };
    piece(text, String::new(), None, Shape::Echo, None)
}
