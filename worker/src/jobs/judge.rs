//! Judge jobs: the coordinator asks one worker of the queue group
//! (`igentai.jobs.judge`) whether each of up to [`MAX_JUDGE_ITEMS`] items
//! is a real, specific instance of the topic, and gets one [`Answer`] per
//! item and what its calls cost. The provider is chosen by the job's
//! weights: the run's judge provider alone when it names one.
//!
//! One call labels all the items ([`prompt::judge`]). A job that confirms
//! (a run's `judge_confirm`) then asks about each item labelled a member
//! alone, by the same provider, independent questions: what kind of thing
//! is it (and may a thing of that kind be a member at all?), and which
//! member of the topic is it ([`prompt::identify`], [`second_verdict`])?
//! A "yes" stands only when the answers name the item
//! itself ([`identity::read`]); otherwise it becomes a "no", and "unsure"
//! when a call fails. A small judge labels many inventions "member" but
//! gives them away when it has to name them.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;

use futures::StreamExt;
use igentai_protocol::{Answer, JudgeReply, JudgeRequest, MAX_JUDGE_ITEMS, VERSION};
use tokio_util::sync::CancellationToken;

use super::call;
use crate::generate::Shared;
use crate::parse::identity::{self, Said};
use crate::parse::parse_verdicts;
use crate::prompt::{self, Prompt, Question, Task};
use crate::providers::Completion;

/// Topic answers a worker keeps before it forgets them all.
const TOPIC_ANSWERS_KEPT: usize = 4096;

/// Answers to the second questions about the topic alone, the same for
/// every item ([`Question::KindAmong`], [`Question::Beginning`]), by
/// the model that answered (a provider's name and the model it reported)
/// and question: each asked once a worker, not once an item.
#[derive(Debug, Default)]
pub struct TopicAnswers(Mutex<HashMap<(Answerer, String), Completion>>);

/// A provider's name and the model it reported.
pub type Answerer = (String, String);

impl TopicAnswers {
    /// The answer `by` gives `prompt`: one it gave before, free, when the
    /// prompt asks about the topic alone; else `call`'s, kept when it does.
    /// A worker's judge jobs and the benchmarks ask the second questions
    /// through it, so both pay for a topic answer once.
    pub async fn ask<F, Fut, E>(
        &self,
        by: &Answerer,
        prompt: Prompt,
        call: F,
    ) -> Result<Completion, E>
    where
        F: FnOnce(Prompt) -> Fut,
        Fut: Future<Output = Result<Completion, E>>,
    {
        if !Self::kept(&prompt) {
            return call(prompt).await;
        }
        if let Some(known) = self.recall(by, &prompt) {
            return Ok(known);
        }
        let asked = prompt.user.clone();
        let completion = call(prompt).await?;
        self.keep(by, asked, &completion);
        Ok(completion)
    }

    /// Whether `prompt` asks about the topic alone.
    fn kept(prompt: &Prompt) -> bool {
        matches!(
            prompt.task,
            Task::Identify(Question::KindAmong | Question::Beginning)
        )
    }

    /// The answer `by` gave `prompt` before, free this time.
    fn recall(&self, by: &Answerer, prompt: &Prompt) -> Option<Completion> {
        let answers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let answer = answers.get(&(by.clone(), prompt.user.clone()))?;
        Some(Completion {
            tokens_in: 0,
            tokens_cached_in: 0,
            tokens_out: 0,
            cost_usd: 0.0,
            ..answer.clone()
        })
    }

    /// Keeps the answer `by` gave the prompt asking `asked`.
    fn keep(&self, by: &Answerer, asked: String, answer: &Completion) {
        let mut answers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= TOPIC_ANSWERS_KEPT {
            answers.clear();
        }
        answers.insert((by.clone(), asked), answer.clone());
    }
}

/// Second questions of one job asked at once: a provider with more slots
/// answers them side by side, one with a single slot in turn.
const SECOND_QUESTIONS_AT_ONCE: usize = 4;

/// Answers one job; `cancel` (shutdown) abandons it.
pub(crate) async fn answer(
    shared: &Shared,
    request: &JudgeRequest,
    cancel: &CancellationToken,
) -> JudgeReply {
    let refuse = |error: String| refusal(&shared.worker_id, error);
    if request.items.is_empty()
        || request.items.len() > MAX_JUDGE_ITEMS
        || request.topic.trim().is_empty()
    {
        return refuse(format!(
            "a judge job needs a topic and 1-{MAX_JUDGE_ITEMS} items"
        ));
    }
    let prompt = prompt::judge(request);
    let (provider, completion) = match call(shared, &request.weights, &prompt, cancel).await {
        Ok(answered) => answered,
        Err(failed) => {
            return JudgeReply {
                provider: failed.provider,
                ..refuse(failed.error)
            };
        }
    };
    let mut reply = JudgeReply {
        v: VERSION,
        worker_id: shared.worker_id.clone(),
        ok: true,
        error: None,
        answers: parse_verdicts(&completion.text, &request.items),
        provider,
        model: completion.model,
        tokens_in: completion.tokens_in,
        tokens_cached_in: completion.tokens_cached_in,
        tokens_out: completion.tokens_out,
        cost_usd: completion.cost_usd,
    };
    if request.confirm {
        second_questions(shared, request, &mut reply, cancel).await;
    }
    reply
}

/// Asks about each item `reply` calls a member which member it is, and
/// turns the "yes" of each the answers do not confirm; every call's cost
/// is added to the reply's.
async fn second_questions(
    shared: &Shared,
    request: &JudgeRequest,
    reply: &mut JudgeReply,
    cancel: &CancellationToken,
) {
    let weights = BTreeMap::from([(reply.provider.clone(), 1.0)]);
    let by: Answerer = (reply.provider.clone(), reply.model.clone());
    let members: Vec<usize> = (0..request.items.len())
        .filter(|&i| reply.answers.get(i) == Some(&Answer::Yes))
        .collect();
    let asked = futures::stream::iter(members)
        .map(|i| {
            let (weights, by) = (&weights, &by);
            let ask = move |prompt: Prompt| {
                let called = move |prompt: Prompt| async move {
                    let (_, completion) = call(shared, weights, &prompt, cancel).await?;
                    Ok::<_, super::Failed>(completion)
                };
                shared.topic_answers.ask(by, prompt, called)
            };
            async move {
                (
                    i,
                    second_verdict(JudgedTopic::of(request), &request.items[i], ask).await,
                )
            }
        })
        .buffered(SECOND_QUESTIONS_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    for (i, (verdict, paid)) in asked {
        reply.answers[i] = verdict;
        for completion in paid {
            reply.tokens_in += completion.tokens_in;
            reply.tokens_cached_in += completion.tokens_cached_in;
            reply.tokens_out += completion.tokens_out;
            reply.cost_usd += completion.cost_usd;
        }
    }
}

/// The topic the second questions are about.
#[derive(Debug, Clone, Copy)]
pub struct JudgedTopic<'a> {
    pub name: &'a str,
    /// Whether its members form a closed list the judge can name (the
    /// run's `judge_closed`; see [`outside`]).
    pub closed: bool,
}

impl<'a> JudgedTopic<'a> {
    /// The topic a judge job asks about.
    pub fn of(request: &'a JudgeRequest) -> Self {
        JudgedTopic {
            name: &request.topic,
            closed: request.closed,
        }
    }
}

/// The verdict on `item`, which the labels called a member, from the
/// second questions `ask` answers: what kind of thing it is, and "no" if
/// a kind made of several members ([`identity::composite`]) or, for
/// another kind, unless the members listed by the item's beginning hold
/// it ([`outside`]); then which
/// member it is, in the strict wording and in the plain one when the
/// strict answer names another member unlike the item
/// ([`Said::Another`]), and the member a short symbol stands for when an
/// answer only repeats it ([`Said::Echoes`], [`Question::Symbol`]) or
/// the strict one answers none for a code (`CA`: the strict wording
/// expands no postal code it takes for an abbreviation);
/// for an item that is a code answered with a name
/// ([`Said::Expands`]), the name's code, which must be the item. "yes"
/// when an answer confirms the item, "no" when none does, "unsure" when a
/// call fails; and the calls answered, to be paid for.
pub async fn second_verdict<F, Fut, E>(
    about: JudgedTopic<'_>,
    item: &str,
    mut ask: F,
) -> (Answer, Vec<Completion>)
where
    F: FnMut(Prompt) -> Fut,
    Fut: Future<Output = Result<Completion, E>>,
{
    let topic = about.name;
    let mut paid = Vec::new();
    let Ok(kind) = ask(prompt::identify(topic, item, Question::Kind)).await else {
        return (Answer::Unsure, paid);
    };
    let several = identity::composite(topic, &kind.text);
    let beginnings = identity::beginnings(item);
    let other = identity::other_kind(topic, &kind.text).filter(|_| !beginnings.is_empty());
    paid.push(kind);
    if several {
        return (Answer::No, paid);
    }
    if let Some(kind) = other {
        match outside(about, item, &kind, &beginnings, &mut ask, &mut paid).await {
            Ok(true) => return (Answer::No, paid),
            Ok(false) => {}
            Err(_) => return (Answer::Unsure, paid),
        }
    }
    let code = identity::is_code_item(item);
    let mut next = Some(Question::Strict);
    while let Some(question) = next {
        let Ok(completion) = ask(prompt::identify(topic, item, question)).await else {
            return (Answer::Unsure, paid);
        };
        let said = identity::read(item, &completion.text);
        let name = identity::named(&completion.text).unwrap_or_default();
        paid.push(completion);
        match said {
            Said::Confirms => return (Answer::Yes, paid),
            Said::Expands => {
                let Ok(code) = ask(prompt::code(topic, item, &name)).await else {
                    return (Answer::Unsure, paid);
                };
                let gives = identity::gives_code(item, &code.text);
                paid.push(code);
                if gives {
                    return (Answer::Yes, paid);
                }
            }
            Said::Rejects if !(code && question == Question::Strict) => {
                return (Answer::No, paid);
            }
            Said::Another | Said::Echoes | Said::Rejects => {}
        }
        next = match (question, said) {
            (Question::Symbol, _) => None,
            (_, Said::Echoes) | (Question::Strict, Said::Rejects) => Some(Question::Symbol),
            (Question::Strict, _) => Some(Question::Plain),
            _ => None,
        };
    }
    (Answer::No, paid)
}

/// Whether `item`, given a `kind` that does not name the topic, is outside
/// it. First: may a member be of that kind ([`Question::KindAmong`])?
/// Of a `closed` topic (the run's `judge_closed`: its members form a list
/// the judge can name, as the US states or the chemical elements do) a
/// kind no member has is outside at once: the 1.5B judge lists
/// `Ethanol`, `Glucose` and `Vitamin D` among the elements beginning
/// "Eth", "Glu", "Vit", but says no element is an alcohol, a sugar or a
/// vitamin, and yes for the kind it gives each of the 118 elements and 50
/// states; of the 193 UN member states it calls 4 a city (`Monaco`,
/// `Singapore`), a kind it says none has, which loses them. An item of a
/// kind a member may have ("a gas") must be listed among the members
/// whose names begin as the item's does
/// ([`Question::Beginning`], [`identity::lists`]) by one of its
/// [`identity::beginnings`]: the item is not named, so the model cannot
/// repeat it, and the judge that calls `Methane` "a gas" lists
/// "Mendelevium, Mercury". Of an open topic, whose members no list by
/// letters holds, only a kind no member has calls for the list, which
/// saves a member given a wrong kind (`Hawaii`, "an island"). The calls
/// answered are added to `paid`.
async fn outside<F, Fut, E>(
    topic: JudgedTopic<'_>,
    item: &str,
    kind: &str,
    beginnings: &[String],
    ask: &mut F,
    paid: &mut Vec<Completion>,
) -> Result<bool, E>
where
    F: FnMut(Prompt) -> Fut,
    Fut: Future<Output = Result<Completion, E>>,
{
    let among = ask(prompt::about(topic.name, item, Question::KindAmong, kind)).await?;
    let none = identity::says_no(&among.text);
    paid.push(among);
    match (topic.closed, none) {
        // Of a closed topic, a kind no member has is out.
        (true, true) => return Ok(true),
        // Of an open topic, a kind members may have stands.
        (false, false) => return Ok(false),
        // Else the lists decide.
        _ => {}
    }
    for letters in beginnings {
        let listed = ask(prompt::about(
            topic.name,
            item,
            Question::Beginning,
            letters,
        ))
        .await?;
        let holds = identity::lists(item, &listed.text);
        paid.push(listed);
        if holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A reply that judged nothing.
pub fn refusal(worker_id: &str, error: String) -> JudgeReply {
    JudgeReply {
        v: VERSION,
        worker_id: worker_id.to_string(),
        ok: false,
        error: Some(error),
        answers: vec![],
        provider: String::new(),
        model: String::new(),
        tokens_in: 0,
        tokens_cached_in: 0,
        tokens_out: 0,
        cost_usd: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// The verdict on `item` when the second questions get `answers` in
    /// order (a failed call once they run out), the questions asked, and
    /// how many calls were paid for.
    fn verdict(topic: JudgedTopic, item: &str, answers: &[&str]) -> (Answer, Vec<Question>, usize) {
        let mut answers = answers.iter();
        let mut asked = Vec::new();
        let ask = |prompt: Prompt| {
            if let Task::Identify(question) = prompt.task {
                asked.push(question);
            }
            let answered = answers.next().map(|text| Completion {
                text: text.to_string(),
                model: "m".into(),
                tokens_in: 10,
                tokens_cached_in: 0,
                tokens_out: 2,
                cost_usd: 0.0,
                finish_reason: None,
                request_id: None,
                limits: Default::default(),
            });
            std::future::ready(answered.ok_or("failed"))
        };
        let (answer, paid) = futures::executor::block_on(second_verdict(topic, item, ask));
        (answer, asked, paid.len())
    }

    use Question::{Beginning, Code, Kind, KindAmong, Plain, Strict, Symbol};

    fn open(name: &str) -> JudgedTopic<'_> {
        JudgedTopic {
            name,
            closed: false,
        }
    }

    fn closed(name: &str) -> JudgedTopic<'_> {
        JudgedTopic { name, closed: true }
    }

    #[test]
    fn a_topic_answer_is_asked_once_a_model_then_free() {
        let answers = TopicAnswers::default();
        let by = |provider: &str, model: &str| (provider.to_string(), model.to_string());
        let calls = std::cell::Cell::new(0);
        // Asks `prompt` of `who`; what was paid for the answer and
        // whether a call was made.
        let ask = |who: &Answerer, prompt: Prompt| {
            let before = calls.get();
            let call = |_: Prompt| {
                calls.set(calls.get() + 1);
                std::future::ready(Ok::<_, Infallible>(Completion {
                    text: "No.".into(),
                    model: "m".into(),
                    tokens_in: 30,
                    tokens_cached_in: 0,
                    tokens_out: 2,
                    cost_usd: 0.001,
                    finish_reason: None,
                    request_id: None,
                    limits: Default::default(),
                }))
            };
            let answer = futures::executor::block_on(answers.ask(who, prompt, call));
            let answer = answer.expect("answered");
            assert_eq!(answer.text, "No.");
            (answer.tokens_in, answer.cost_usd, calls.get() > before)
        };
        let among = |item| prompt::about("chemical elements", item, KindAmong, "amino acid");
        assert_eq!(ask(&by("a", "m"), among("Arginine")), (30, 0.001, true));
        // Another item of the same kind asks the same question.
        assert_eq!(ask(&by("a", "m"), among("Leucine")), (0, 0.0, false));
        for (other, asks) in [
            (by("b", "m"), "another provider"),
            (by("a", "n"), "another model"),
        ] {
            assert_eq!(
                ask(&other, among("Arginine")),
                (30, 0.001, true),
                "{asks} asks anew"
            );
        }
        // A question about the item is asked every time.
        let strict = || prompt::identify("chemical elements", "Arginine", Strict);
        assert_eq!(ask(&by("a", "m"), strict()), (30, 0.001, true));
        assert_eq!(ask(&by("a", "m"), strict()), (30, 0.001, true));
    }

    #[test]
    fn of_a_closed_topic_an_item_of_another_kind_must_be_listed_by_its_beginning() {
        let elements = closed("chemical elements");
        let lists = vec![Kind, KindAmong, Beginning, Beginning, Beginning];
        let methane = [
            "A gas",
            "Yes.",
            "Mendelevium, Mercury",
            "Magnesium",
            "Mercury",
        ];
        let got = verdict(elements, "Methane", &methane);
        assert_eq!(got, (Answer::No, lists.clone(), 5));
        // Missing from the lists by two letters and by one, listed by three.
        let titanium = ["Metal", "Yes.", "Tin", "Tantalum", "Titanium", "Titanium"];
        let got = verdict(elements, "Titanium", &titanium);
        let asked = [lists.as_slice(), &[Strict]].concat();
        assert_eq!(got, (Answer::Yes, asked, 6));
        let hawaii = ["Island", "Yes.", "Hawaii", "Hawaii"];
        let got = verdict(closed("US states"), "Hawaii", &hawaii);
        let asked = vec![Kind, KindAmong, Beginning, Strict];
        assert_eq!(got, (Answer::Yes, asked, 4));
        // A kind that names the topic asks nothing more, nor does a code.
        let got = verdict(elements, "Neon", &["A chemical element", "Neon"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
        let got = verdict(elements, "Fe", &["Metal", "Iron", "Fe"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code], 3));
        // A failed call leaves it unsure, what was answered paid.
        let got = verdict(elements, "Methane", &["A gas", "Yes.", "Mercury"]);
        let asked = vec![Kind, KindAmong, Beginning, Beginning];
        assert_eq!(got, (Answer::Unsure, asked, 3));
    }

    #[test]
    fn of_a_closed_topic_a_kind_no_member_has_is_out_though_listed() {
        // The 1.5B judge lists `Ethanol` among the elements beginning
        // "Eth", but says no element is an alcohol.
        let ethanol = ["Alcohol", "No.", "Ethane, Ethanol", "Ethanol", "Ethanol"];
        let got = verdict(closed("chemical elements"), "Ethanol", &ethanol);
        assert_eq!(got, (Answer::No, vec![Kind, KindAmong], 2));
    }

    #[test]
    fn of_an_open_topic_only_a_kind_no_member_has_asks_for_the_lists() {
        let cheeses = open("rare cheeses");
        let ale = [
            "A beer",
            "No.",
            "Roquefort",
            "Reblochon",
            "Robiola",
            "Rogue Ale",
        ];
        let got = verdict(cheeses, "Rogue Ale", &ale);
        let asked = vec![Kind, KindAmong, Beginning, Beginning, Beginning];
        assert_eq!(got, (Answer::No, asked, 5));
        let hawaii = ["Island", "No.", "Hawaii, Hawaii", "Hawaii"];
        let got = verdict(open("US states"), "Hawaii", &hawaii);
        let asked = vec![Kind, KindAmong, Beginning, Strict];
        assert_eq!(got, (Answer::Yes, asked, 4));
        // A kind that may be a member's asks no list.
        let brie = ["A dairy product", "Yes.", "Brie de Meaux"];
        let got = verdict(cheeses, "Brie de Meaux", &brie);
        assert_eq!(got, (Answer::Yes, vec![Kind, KindAmong, Strict], 3));
    }

    #[test]
    fn a_kind_made_of_several_members_ends_it() {
        let got = verdict(
            open("chemical elements"),
            "Benzene",
            &["A compound", "Benzene"],
        );
        assert_eq!(got, (Answer::No, vec![Kind], 1));
        let got = verdict(
            open("chemical compounds"),
            "Benzene",
            &["A compound", "Benzene"],
        );
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
    }

    #[test]
    fn a_member_confused_with_another_is_asked_plainly() {
        let got = verdict(
            open("US states"),
            "Alabama",
            &["State", "Mississippi", "Alabama"],
        );
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Plain], 3));
        let got = verdict(
            open("US states"),
            "Alabama",
            &["State", "Mississippi", "Georgia"],
        );
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Plain], 3));
        let got = verdict(open("US states"), "Ohio", &["State", "Ohio"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
        let got = verdict(
            open("chemical elements"),
            "Nitrogen fluoropyruvate",
            &["Salt", "Yes", "Nitrogen"],
        );
        assert_eq!(got, (Answer::No, vec![Kind, KindAmong, Strict], 3));
    }

    #[test]
    fn a_code_stands_only_as_the_code_of_the_name_given() {
        let iowa = ["State", "Mississippi", "MS", "Iowa", "IA"];
        let got = verdict(open("US states"), "IA", &iowa);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code, Plain, Code], 5));
        let radium = ["Letter", "Radium", "Ra", "Radium", "Ra"];
        let got = verdict(open("chemical elements"), "R", &radium);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Code, Plain, Code], 5));
        let got = verdict(open("chemical elements"), "Fe", &["Metal", "Iron", "Fe"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code], 3));
        // A name as short as a code is a name: `Tt` answered "Tin" is
        // asked Tin's code, `Sn`.
        let tin = ["A radioactive element", "Tin", "Sn", "Tin", "Sn"];
        let got = verdict(open("chemical elements"), "Tt", &tin);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Code, Plain, Code], 5));
        let got = verdict(open("chemical elements"), "Sn", &["Metal", "Tin", "Sn"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code], 3));
    }

    #[test]
    fn a_symbol_answered_with_itself_must_be_named() {
        let helium = ["Gas", "He", "Helium", "He"];
        let got = verdict(open("chemical elements"), "He", &helium);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Symbol, Code], 4));
        let got = verdict(open("chemical elements"), "Ib", &["Element", "Ib", "Ib"]);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol], 3));
        let iodine = ["Element", "Ib", "Iodine", "I"];
        let got = verdict(open("chemical elements"), "Ib", &iodine);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol, Code], 4));
        // Echoed by the plain question after a confusion, it is asked too.
        let chlorine = ["Element", "Sodium", "Na", "Cl", "Chlorine", "Cl"];
        let got = verdict(open("chemical elements"), "Cl", &chlorine);
        let asked = vec![Kind, Strict, Code, Plain, Symbol, Code];
        assert_eq!(got, (Answer::Yes, asked, 6));
    }

    #[test]
    fn a_code_the_strict_question_rejects_is_asked_by_its_symbol() {
        let california = ["State", "None", "California", "CA"];
        let got = verdict(open("US states"), "CA", &california);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Symbol, Code], 4));
        let made_up = ["Letter", "None", "Manganese", "Mn"];
        let got = verdict(open("chemical elements"), "M", &made_up);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol, Code], 4));
        let got = verdict(open("chemical elements"), "M", &["Letter", "None", "None"]);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol], 3));
        // A name the strict question rejects is out at once.
        let got = verdict(
            open("chemical elements"),
            "Methane",
            &["Gas", "Yes.", "None"],
        );
        assert_eq!(got, (Answer::No, vec![Kind, KindAmong, Strict], 3));
    }

    #[test]
    fn a_failed_call_leaves_it_unsure_and_what_was_answered_paid() {
        assert_eq!(
            verdict(open("US states"), "Ohio", &[]),
            (Answer::Unsure, vec![Kind], 0)
        );
        let got = verdict(open("US states"), "NY", &["State", "New York"]);
        assert_eq!(got, (Answer::Unsure, vec![Kind, Strict, Code], 2));
    }
}
