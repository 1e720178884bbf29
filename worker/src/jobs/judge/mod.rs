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

use std::collections::BTreeMap;
use std::future::Future;

use futures::StreamExt;
use igentai_protocol::{Answer, JudgeReply, JudgeRequest, MAX_JUDGE_ITEMS, VERSION};
use tokio_util::sync::CancellationToken;

use super::call;
use crate::generate::Shared;
use crate::parse::identity::{self, Said};
use crate::parse::parse_verdicts;
use crate::prompt::{self, Prompt, Question};
use crate::providers::Completion;

#[cfg(test)]
mod tests;
mod topic_answers;

pub use topic_answers::{Answerer, TopicAnswers};

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
