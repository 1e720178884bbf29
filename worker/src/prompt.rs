//! Prompts: the run's topic, partition, avoid hints and item count turned
//! into the text sent to a model.
//!
//! Pure. The start command may override the template; `{topic}`,
//! `{count}`, `{partition}` and `{avoid}` are filled in, and the partition
//! and avoid sections are appended when the template does not place them.
//! Partition jobs ask for sub-categories instead of items
//! ([`partitions`]). A provider asking for structured output swaps the
//! closing format line for one asking for a JSON object ([`json_user`]).

use igentai_protocol::{Assignment, JudgeRequest, PartitionRequest};

/// The part every request of a run shares comes first (the system text,
/// then the task and the answer's layout) and what varies from request to
/// request last (the partition, the avoid hints), so a provider's prompt
/// cache can serve the shared prefix.
pub const DEFAULT_TEMPLATE: &str = "List {count} distinct {topic}.\n\
Answer with one item per line, numbered, names only, no descriptions.{partition}{avoid}";

/// The closing line of [`DEFAULT_TEMPLATE`]: how a text answer is laid out.
pub const TEXT_FORMAT: &str =
    "Answer with one item per line, numbered, names only, no descriptions.";
/// Its replacement when the provider asks for structured output.
pub const JSON_FORMAT: &str = "Answer with a JSON object {\"items\": [...]}: one string per item, names only, no descriptions.";
/// The closing line of [`PARTITIONS_TEMPLATE`].
pub const PARTITIONS_TEXT_FORMAT: &str =
    "Answer with one sub-category per line, numbered, names only, no descriptions.";
/// Its replacement when the provider asks for structured output.
pub const PARTITIONS_JSON_FORMAT: &str = "Answer with a JSON object {\"items\": [...]}: one string per sub-category, names only, no descriptions.";

pub const SYSTEM: &str = "You produce long, precise lists. Every item is a distinct, real \
entry of the requested kind; never repeat an item, never add commentary.";

/// What a prompt asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Task {
    /// Items of the topic (or of its partition).
    #[default]
    Items,
    /// Sub-categories of the topic (or of `partition`).
    Partitions,
    /// Verdicts on `judged`: is each a real, specific instance of the topic?
    Judge,
    /// One of the judge's second, independent questions about the item
    /// in `judged` ([`identify`], [`code`]): a short answer in plain text.
    Identify(Question),
}

impl Task {
    /// Whether the answer is a list or verdicts a provider may ask for as
    /// a JSON object; an [`identify`] answer is a name in plain text.
    pub fn structured(self) -> bool {
        !matches!(self, Task::Identify(_))
    }
}

pub const PARTITIONS_TEMPLATE: &str = "List {count} distinct sub-categories of {scope}. \
Together they should cover it with little overlap, and each should hold many items.\n\
Answer with one sub-category per line, numbered, names only, no descriptions.";

/// The user text of `prompt` for a provider that asks for a JSON object:
/// the text format line swapped for the JSON one, or the JSON line added
/// when a custom template has none.
pub fn json_user(prompt: &Prompt) -> String {
    let (text, json) = match prompt.task {
        Task::Items => (TEXT_FORMAT, JSON_FORMAT),
        Task::Partitions => (PARTITIONS_TEXT_FORMAT, PARTITIONS_JSON_FORMAT),
        Task::Judge => (JUDGE_TEXT_FORMAT, JUDGE_JSON_FORMAT),
        Task::Identify(_) => return prompt.user.clone(),
    };
    if prompt.user.contains(text) {
        prompt.user.replace(text, json)
    } else {
        format!("{}\n{json}", prompt.user.trim_end())
    }
}

/// What is sent to a model, with the structure the `sim` provider reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub task: Task,
    pub system: String,
    pub user: String,
    pub topic: String,
    pub partition: Option<String>,
    pub avoid: Vec<String>,
    pub count: u32,
    /// The items a judge job asks about, in the order of its lines.
    pub judged: Vec<String>,
}

impl Prompt {
    /// Input tokens, roughly (four characters a token), for limits and for
    /// servers that report no usage.
    pub fn estimated_tokens(&self) -> u64 {
        ((self.system.len() + self.user.len()) / 4 + 1) as u64
    }

    /// Input plus expected output (about 12 tokens an item), for the
    /// tokens-per-minute limit.
    pub fn estimated_call_tokens(&self) -> u64 {
        self.estimated_tokens() + u64::from(self.count) * 12
    }

    /// The sampling temperature of the call, given the provider's: a judge
    /// answers at 0, its verdict the model's best guess rather than a
    /// sample. None stays none: a provider configured without one may be
    /// a model that refuses the parameter (OpenAI's reasoning models).
    pub fn temperature(&self, configured: Option<f64>) -> Option<f64> {
        match self.task {
            Task::Judge | Task::Identify(_) => configured.map(|_| 0.0),
            Task::Items | Task::Partitions => configured,
        }
    }

    /// The output bound of the call, given the provider's: a judge's is
    /// raised to what its answer needs (each verdict names its item, then
    /// its label: about 12 tokens plus the item's), so no verdict is cut
    /// off and paid for in vain; an [`identify`] answer, one name, is held
    /// to what a name needs, so a model that explains pays for no essay.
    pub fn max_tokens(&self, configured: Option<u32>) -> Option<u32> {
        let configured = configured?;
        Some(match self.task {
            Task::Judge => {
                let needed: usize = self.judged.iter().map(|i| i.len() / 3 + 12).sum();
                configured.max(u32::try_from(needed + 16).unwrap_or(u32::MAX))
            }
            Task::Identify(Question::Beginning) => configured.min(BEGINNING_MAX_TOKENS),
            Task::Identify(_) => {
                let needed: usize = self.judged.iter().map(|i| i.len() / 2 + 16).sum();
                configured.min(u32::try_from(needed).unwrap_or(u32::MAX))
            }
            Task::Items | Task::Partitions => configured,
        })
    }
}

pub fn build(assignment: &Assignment) -> Prompt {
    let template = assignment
        .prompt_template
        .as_deref()
        .unwrap_or(DEFAULT_TEMPLATE);
    let partition = assignment
        .partition
        .as_ref()
        .map(|p| format!(" Focus only on this sub-category: {p}."))
        .unwrap_or_default();
    let avoid = if assignment.avoid.is_empty() {
        String::new()
    } else {
        format!(
            "\nThese are already known; do not repeat them: {}.",
            assignment.avoid.join("; ")
        )
    };
    let mut user = template
        .replace("{topic}", &assignment.topic)
        .replace("{count}", &assignment.items_per_request.to_string());
    for (placeholder, text) in [("{partition}", &partition), ("{avoid}", &avoid)] {
        if user.contains(placeholder) {
            user = user.replace(placeholder, text);
        } else {
            user.push_str(text);
        }
    }
    Prompt {
        task: Task::Items,
        system: SYSTEM.to_string(),
        user,
        topic: assignment.topic.clone(),
        partition: assignment.partition.clone(),
        avoid: assignment.avoid.clone(),
        count: assignment.items_per_request,
        judged: vec![],
    }
}

/// The prompt of a partition job: sub-categories of the topic, or of the
/// partition `parent` (a path `A > B`) within it.
pub fn partitions(request: &PartitionRequest) -> Prompt {
    let scope = match &request.parent {
        Some(parent) => format!("\"{parent}\" (within {})", request.topic),
        None => request.topic.clone(),
    };
    Prompt {
        task: Task::Partitions,
        system: SYSTEM.to_string(),
        user: PARTITIONS_TEMPLATE
            .replace("{count}", &request.count.to_string())
            .replace("{scope}", &scope),
        topic: request.topic.clone(),
        partition: request.parent.clone(),
        avoid: vec![],
        count: request.count,
        judged: vec![],
    }
}

/// What a judge is told before the items: four labels rather than a bare
/// yes/no, because small models answer "yes" to nearly every "is X a
/// member?" and classify better than they confirm. The items come last,
/// after the part every judge call of a run shares.
pub const JUDGE_TEMPLATE: &str = "Check this list of {topic}.\n\
For each numbered line below, say what it names:\n\
- member: one real, specific instance of {topic}\n\
- other: something real that is not one of them (a category, a description, a thing of another kind)\n\
- invented: nothing real that you know of\n\
- unsure: you cannot tell\n\
Answer with one line per item: its number, then member, other, invented or unsure. No other text.";

/// The labels a judge answers with, as [`JUDGE_TEMPLATE`] names them.
pub const JUDGE_LABELS: [&str; 4] = ["member", "other", "invented", "unsure"];

/// The closing line of [`JUDGE_TEMPLATE`].
pub const JUDGE_TEXT_FORMAT: &str = "Answer with one line per item: its number, then member, other, invented or unsure. No other text.";
/// Its replacement when the provider asks for structured output.
pub const JUDGE_JSON_FORMAT: &str = "Answer with a JSON object {\"verdicts\": [{\"item\": ..., \"label\": ...}, ...]}: one entry per numbered line, in order, the item as written, then its label: member, other, invented or unsure.";

pub const JUDGE_SYSTEM: &str = "You check lists for errors. You know the subject well and \
answer strictly: a name you do not recognise is not a member.";

/// The prompt of a judge job: the shared instructions, then the items,
/// numbered from 1.
pub fn judge(request: &JudgeRequest) -> Prompt {
    let mut user = JUDGE_TEMPLATE.replace("{topic}", &request.topic);
    user.push('\n');
    for (n, item) in request.items.iter().enumerate() {
        user.push_str(&format!("\n{}. {}", n + 1, item));
    }
    Prompt {
        task: Task::Judge,
        system: JUDGE_SYSTEM.to_string(),
        user,
        topic: request.topic.clone(),
        partition: None,
        avoid: vec![],
        count: request.items.len() as u32,
        judged: request.items.clone(),
    }
}

/// The judge's second questions, about one item its labels called a
/// member, are questions to answer in a few words rather than to confirm:
/// asked "is X a member?", a small model says yes to nearly everything.
/// [`Question::Kind`] comes first: asked what kind of thing `Benzene` is,
/// Qwen2.5-Coder-1.5B answers "a compound" where it labels it an element
/// (66 of the 107 non-members of the chemical elements' fixed lines, 1 of
/// the 101 members), while members get "metal", "gas", "state",
/// "country". `parse::identity::composite` reads the answer.
pub const KIND_TEMPLATE: &str = "Among {topic} and things that are not {topic}: what is \
\"{item}\"? Answer with the kind of thing it is, in one or two words.";

/// Then the member the item is. Asked to *name* it, a small model gives an
/// invention away: it answers "Water" for `H2O`, "Nitrogen" for `Nitrogen
/// fluoropyruvate`. Naming the kinds an item may be instead (a
/// combination or a group of members) and asking for the name "as the
/// complete list spells it" halved what Qwen2.5-Coder-1.5B let through on
/// the chemical elements against [`IDENTIFY_PLAIN_TEMPLATE`].
/// `parse::identity::read` reads the answer.
pub const IDENTIFY_TEMPLATE: &str = "Name the one of the {topic} that \"{item}\" is, as the \
complete list of {topic} spells it. If \"{item}\" is not itself one of the {topic} (something \
of another kind, a combination or a group of them, or nothing real), answer none. Answer with \
the name only.";

/// The question asked when the answer to [`IDENTIFY_TEMPLATE`] names
/// another member, one unlike the item: the strict wording makes a small
/// model name a neighbour for some real members ("Mississippi" for
/// `Alabama`, for the postal code `IA`), which the plain question answers
/// right.
pub const IDENTIFY_PLAIN_TEMPLATE: &str = "Which one of {topic} is \"{item}\"? Answer with its \
full standard name only, or none if it is not one of {topic} (something of another kind, or \
nothing real).";

/// Asked when an answer only repeats a symbol of one or two characters
/// (`Cl` answered "Cl"): the member it stands for. Asked which one of the
/// chemical elements `Ce`, `Cs` or `Hh` is, the 1.5B judge repeats them;
/// asked which has that symbol, it names "Cerium", "Cesium", "Hydrogen",
/// whose code ([`CODE_TEMPLATE`]) then tells the made-up one.
pub const SYMBOL_TEMPLATE: &str = "Which one of the {topic} has the standard symbol or \
abbreviation \"{item}\"? Answer with its full name only, or none.";

/// Asked when the item is a code (`R`, `IA`) and the answer a name: the
/// code the model gives that name must be the item. Read forwards, a
/// small model expands any letter into a member (`R` → "Radium"); asked
/// backwards it answers "Ra", and "IA" for Iowa. This wording gave every
/// symbol and postal code probed right; "How is {name} abbreviated"
/// answered "Asn" for Arsenic.
pub const CODE_TEMPLATE: &str = "What is the standard symbol or abbreviation of {name} among \
the {topic}? Answer with it only.";

/// Asked when the kind the item was given does not name the topic: would
/// a complete list of the topic hold things of that kind? A question about
/// the kind, not the item, so the item cannot sway it. Qwen2.5-Coder-1.5B
/// answers no for amino acids, sugars, nucleotides, pigments, plastics,
/// nutrients, vitamins and planets among the chemical elements; yes for
/// gases, metals, minerals and materials, and among the US states for
/// cities and islands, which hold members. Asked "is any {kind} one of the
/// {topic}?" it said yes to sugars, nucleotides, pigments and nutrients.
pub const KIND_AMONG_TEMPLATE: &str =
    "Would a complete list of the {topic} include any {kind}? Answer yes or no.";

/// Asked when [`KIND_AMONG_TEMPLATE`] says no: the members whose names
/// begin as the item's does. The item is not named, so the model cannot
/// repeat it; the judge that labelled `Arginine` a chemical element lists
/// "Argon, Arsenic" here, and "Hawaii" for a state it called an island.
pub const BEGINNING_TEMPLATE: &str = "List every one of the {topic} whose name begins with \
\"{beginning}\". Answer with the names only, separated by commas, or none.";

/// The output bound of a [`BEGINNING_TEMPLATE`] answer: a few names.
const BEGINNING_MAX_TOKENS: u32 = 120;

pub const IDENTIFY_SYSTEM: &str = "You answer questions about facts strictly and briefly.";

/// Which of the judge's second questions is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// [`KIND_TEMPLATE`], asked first.
    Kind,
    /// [`IDENTIFY_TEMPLATE`], asked next.
    Strict,
    /// [`IDENTIFY_PLAIN_TEMPLATE`], asked when the strict answer names
    /// another member, or a member whose code is not the item.
    Plain,
    /// [`SYMBOL_TEMPLATE`], asked when an answer repeats a short symbol.
    Symbol,
    /// [`CODE_TEMPLATE`], asked of the name an answer gave a code ([`code`]).
    Code,
    /// [`KIND_AMONG_TEMPLATE`], asked of the kind the item was given
    /// ([`about`]).
    KindAmong,
    /// [`BEGINNING_TEMPLATE`], asked of the beginning of the item's name
    /// ([`about`]).
    Beginning,
}

/// The prompt of the judge's `question` about `item` itself: its kind,
/// the member it is, the member its symbol stands for; a question about
/// something an answer gave is asked of the item (see [`about`]).
pub fn identify(topic: &str, item: &str, question: Question) -> Prompt {
    about(topic, item, question, item)
}

/// The prompt asking the code of `name`, the member an answer gave the
/// code `item` (`judged` holds both, the item first).
pub fn code(topic: &str, item: &str, name: &str) -> Prompt {
    about(topic, item, Question::Code, name)
}

/// The prompt of the judge's `question` about `item`. A question about
/// what an answer gave asks it of `subject`: the code of a name
/// ([`Question::Code`]), whether a kind may be one of the topic
/// ([`Question::KindAmong`]), the members whose names begin with it
/// ([`Question::Beginning`]); `judged` then holds the item, then
/// `subject`. The other questions name the item alone.
pub fn about(topic: &str, item: &str, question: Question, subject: &str) -> Prompt {
    let (template, slot) = match question {
        Question::Kind => (KIND_TEMPLATE, None),
        Question::Strict => (IDENTIFY_TEMPLATE, None),
        Question::Plain => (IDENTIFY_PLAIN_TEMPLATE, None),
        Question::Symbol => (SYMBOL_TEMPLATE, None),
        Question::Code => (CODE_TEMPLATE, Some("{name}")),
        Question::KindAmong => (KIND_AMONG_TEMPLATE, Some("{kind}")),
        Question::Beginning => (BEGINNING_TEMPLATE, Some("{beginning}")),
    };
    let user = template.replace("{topic}", topic).replace("{item}", item);
    let user = match slot {
        Some(slot) => user.replace(slot, subject),
        None => user,
    };
    second(topic, question, user, item, slot.map(|_| subject))
}

/// A second question's prompt: plain text, one item (and for a code, the
/// name given) asked about.
fn second(topic: &str, question: Question, user: String, item: &str, name: Option<&str>) -> Prompt {
    Prompt {
        task: Task::Identify(question),
        system: IDENTIFY_SYSTEM.to_string(),
        user,
        topic: topic.to_string(),
        partition: None,
        avoid: vec![],
        count: 1,
        judged: std::iter::once(item)
            .chain(name)
            .map(str::to_string)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge_of(items: &[&str]) -> Prompt {
        judge(&JudgeRequest {
            v: 1,
            run_id: "r".into(),
            topic: "US states".into(),
            items: items.iter().map(|s| s.to_string()).collect(),
            weights: Default::default(),
            confirm: false,
            closed: false,
        })
    }

    #[test]
    fn a_judge_answers_at_temperature_zero_where_one_is_sent() {
        let j = judge_of(&["Ohio"]);
        assert_eq!(j.temperature(Some(0.8)), Some(0.0));
        assert_eq!(j.temperature(None), None);
        let items = build(&assignment(None, None, &[]));
        assert_eq!(items.temperature(Some(0.8)), Some(0.8));
    }

    #[test]
    fn the_second_question_is_one_name_in_plain_text_at_temperature_zero() {
        let q = identify("US states", "NY", Question::Strict);
        assert!(
            q.user
                .starts_with("Name the one of the US states that \"NY\" is"),
            "{}",
            q.user
        );
        let plain = identify("US states", "NY", Question::Plain);
        assert!(
            plain.user.starts_with("Which one of US states is \"NY\"?"),
            "{}",
            plain.user
        );
        let kind = identify("US states", "NY", Question::Kind);
        assert!(
            kind.user.ends_with(
                "what is \"NY\"? Answer with the kind of thing it is, in one or two words."
            ),
            "{}",
            kind.user
        );
        let code = code("US states", "NY", "New York");
        assert_eq!(
            code.user,
            "What is the standard symbol or abbreviation of New York among the US states? Answer with it only."
        );
        assert_eq!(
            (code.task, code.judged),
            (
                Task::Identify(Question::Code),
                vec!["NY".to_string(), "New York".to_string()]
            )
        );
        assert_eq!(q.temperature(Some(0.8)), Some(0.0));
        assert_eq!(q.max_tokens(Some(400)), Some(17));
        assert_eq!(q.max_tokens(Some(8)), Some(8));
        assert!(!q.task.structured() && judge_of(&["Ohio"]).task.structured());
        assert_eq!(json_user(&q), q.user, "no JSON format line");
    }

    #[test]
    fn a_judge_gets_the_output_its_verdicts_need() {
        let items: Vec<String> = (0..40).map(|n| format!("State number {n}")).collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let j = judge_of(&refs);
        let raised = j.max_tokens(Some(100)).unwrap();
        assert!(raised >= 40 * 12, "{raised}");
        assert_eq!(judge_of(&["Ohio"]).max_tokens(Some(400)), Some(400));
        assert_eq!(j.max_tokens(None), None);
        let plain = build(&assignment(None, None, &[]));
        assert_eq!(plain.max_tokens(Some(100)), Some(100));
    }

    fn assignment(template: Option<&str>, partition: Option<&str>, avoid: &[&str]) -> Assignment {
        Assignment {
            v: 1,
            run_id: "r".into(),
            topic: "Paris attractions".into(),
            partition: partition.map(Into::into),
            avoid: avoid.iter().map(|s| s.to_string()).collect(),
            items_per_request: 20,
            prompt_template: template.map(Into::into),
            weights: Default::default(),
        }
    }

    #[test]
    fn default_prompt() {
        let p = build(&assignment(None, None, &[]));
        assert_eq!(
            p.user,
            "List 20 distinct Paris attractions.\nAnswer with one item per line, numbered, names only, no descriptions."
        );
        // What varies between requests comes last, after the shared part.
        let shared = build(&assignment(None, None, &[])).user;
        let p = build(&assignment(None, Some("museums"), &["Louvre", "Orsay"]));
        assert_eq!(
            p.user,
            format!(
                "{shared} Focus only on this sub-category: museums.\nThese are already known; do not repeat them: Louvre; Orsay."
            )
        );
    }

    #[test]
    fn partition_prompt() {
        let request = |parent: Option<&str>| PartitionRequest {
            v: 1,
            run_id: "r".into(),
            topic: "Paris attractions".into(),
            parent: parent.map(Into::into),
            count: 8,
            weights: Default::default(),
        };
        let p = partitions(&request(None));
        assert_eq!(p.task, Task::Partitions);
        assert!(
            p.user
                .starts_with("List 8 distinct sub-categories of Paris attractions."),
            "{}",
            p.user
        );
        let p = partitions(&request(Some("Museums > Art")));
        assert!(
            p.user
                .contains("of \"Museums > Art\" (within Paris attractions)"),
            "{}",
            p.user
        );
        assert_eq!(p.partition.as_deref(), Some("Museums > Art"));
    }

    #[test]
    fn format_lines() {
        assert!(DEFAULT_TEMPLATE.contains(TEXT_FORMAT));
        assert!(PARTITIONS_TEMPLATE.ends_with(PARTITIONS_TEXT_FORMAT));
        let p = build(&assignment(None, None, &[]));
        assert_eq!(
            json_user(&p),
            format!("List 20 distinct Paris attractions.\n{JSON_FORMAT}")
        );
        let p = build(&assignment(Some("Name {count} {topic}"), None, &[]));
        assert_eq!(
            json_user(&p),
            format!("Name 20 Paris attractions\n{JSON_FORMAT}")
        );
    }

    #[test]
    fn template_override() {
        let p = build(&assignment(
            Some("Name {count} {topic}"),
            Some("parks"),
            &["A"],
        ));
        assert_eq!(
            p.user,
            "Name 20 Paris attractions Focus only on this sub-category: parks.\nThese are already known; do not repeat them: A."
        );
    }
}
