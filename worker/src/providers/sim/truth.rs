//! What the sim meant by each line of an answer: which item of the world
//! it names (or none: an echo of the prompt, a placeholder, an invented
//! item) and in which shape it was written. It never goes on the wire; the
//! yield benchmark reads it to count true distinct items rather than
//! distinct spellings, and to tell which stored spellings are junk and
//! which are inventions.

use super::universe::Universe;

/// How a line was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// The name, perhaps with a leading "The", lower case, a trailing
    /// full stop or a short " - remark" (the shapes every sim writes).
    Name,
    /// The name with a description: "Brie; cheese with a sweet flavor".
    Described,
    /// Another spelling of an item: "Salmaella (Bergamo, Italy)", "Louvre
    /// Museum (Musée du Louvre)", diacritics dropped.
    Variant,
    /// The prompt or the system text repeated as if it were an item.
    Echo,
    /// "2nd item": a slot the model did not fill.
    Placeholder,
    /// An item the model made up, written in any of the shapes above
    /// (name, description, variant): it names nothing of the world.
    Invented,
}

/// One line of an answer as the sim meant it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The item as written, without list marker or emphasis.
    pub text: String,
    /// The item's id in the world ([`Universe::identify`]), `None` for an
    /// echo, a placeholder or an invented item.
    pub item: Option<u64>,
    pub shape: Shape,
    /// The description a `Described` line carries.
    pub description: Option<String>,
}

/// The lines of one answer (none for a partition job or a failed call).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    pub lines: Vec<Line>,
}

/// What a parsed candidate really is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// An item of the world, spelled as a name (perhaps a variant).
    Item(u64),
    /// An item of the world, but the spelling kept its description.
    Described(u64),
    /// No item: an echo, a placeholder, a fragment of a description.
    Junk,
    /// A name the model made up: spelled like an item, but of none.
    Invented,
}

impl Verdict {
    pub fn item(self) -> Option<u64> {
        match self {
            Verdict::Item(i) | Verdict::Described(i) => Some(i),
            Verdict::Junk | Verdict::Invented => None,
        }
    }
}

impl Truth {
    /// What `candidate` (an item the parser took from this answer) is:
    /// the item whose word it mentions, and whether it still carries the
    /// description its line was written with; or the invented name of one
    /// of its invented lines.
    pub fn judge(&self, universe: &Universe, candidate: &str) -> Verdict {
        let Some(item) = universe.identify(candidate) else {
            let spelled = universe.spelled(candidate);
            let invented = spelled.is_some()
                && self
                    .lines
                    .iter()
                    .any(|l| l.shape == Shape::Invented && universe.spelled(&l.text) == spelled);
            return match invented {
                true => Verdict::Invented,
                false => Verdict::Junk,
            };
        };
        let lower = candidate.to_lowercase();
        let described = self.lines.iter().any(|l| {
            l.item == Some(item)
                && l.description
                    .as_deref()
                    .and_then(|d| d.split_whitespace().find(|w| w.len() >= 4))
                    .is_some_and(|w| lower.contains(&w.to_lowercase()))
        });
        match described {
            true => Verdict::Described(item),
            false => Verdict::Item(item),
        }
    }

    /// Lines of a shape.
    pub fn count(&self, shape: Shape) -> usize {
        self.lines.iter().filter(|l| l.shape == shape).count()
    }
}
