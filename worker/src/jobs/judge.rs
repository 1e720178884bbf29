//! Judge jobs: the coordinator asks one worker of the queue group
//! (`igentai.jobs.judge`) whether each of up to [`MAX_JUDGE_ITEMS`] items
//! is a real, specific instance of the topic, and gets one [`Answer`] per
//! item and what its calls cost. The provider is chosen by the job's
//! weights: the run's judge provider alone when it names one.
//!
//! One call labels all the items ([`prompt::judge`]). A job that confirms
//! (a run's `judge_confirm`) then asks about each item labelled a member
//! alone, by the same provider, independent questions: what kind of thing
//! is it, and which member of the topic is it ([`prompt::identify`],
//! [`second_verdict`])? A "yes" stands only when the answers name the item
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
    let members: Vec<usize> = (0..request.items.len())
        .filter(|&i| reply.answers.get(i) == Some(&Answer::Yes))
        .collect();
    let asked = futures::stream::iter(members)
        .map(|i| {
            let weights = &weights;
            let ask = move |prompt: Prompt| async move {
                call(shared, weights, &prompt, cancel)
                    .await
                    .map(|(_, completion)| completion)
            };
            async move {
                (
                    i,
                    second_verdict(&request.topic, &request.items[i], ask).await,
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

/// The verdict on `item`, which the labels called a member, from the
/// second questions `ask` answers: what kind of thing it is, and "no" if
/// a kind made of several members ([`identity::composite`]); then which
/// member it is, in the strict wording and in the plain one when the
/// strict answer names another member unlike the item
/// ([`Said::Another`]) or only repeats a short symbol ([`Said::Echoes`]);
/// for an item that is a code answered with a name
/// ([`Said::Expands`]), the name's code, which must be the item. "yes"
/// when an answer confirms the item, "no" when none does, "unsure" when a
/// call fails; and the calls answered, to be paid for.
pub async fn second_verdict<F, Fut, E>(
    topic: &str,
    item: &str,
    mut ask: F,
) -> (Answer, Vec<Completion>)
where
    F: FnMut(Prompt) -> Fut,
    Fut: Future<Output = Result<Completion, E>>,
{
    let mut paid = Vec::new();
    let Ok(kind) = ask(prompt::identify(topic, item, Question::Kind)).await else {
        return (Answer::Unsure, paid);
    };
    let several = identity::composite(topic, &kind.text);
    paid.push(kind);
    if several {
        return (Answer::No, paid);
    }
    for question in [Question::Strict, Question::Plain] {
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
            Said::Another | Said::Echoes => {}
            Said::Rejects => return (Answer::No, paid),
        }
    }
    (Answer::No, paid)
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
    use crate::prompt::Task;

    /// The verdict on `item` when the second questions get `answers` in
    /// order (a failed call once they run out), the questions asked, and
    /// how many calls were paid for.
    fn verdict(topic: &str, item: &str, answers: &[&str]) -> (Answer, Vec<Question>, usize) {
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

    use Question::{Code, Kind, Plain, Strict};

    #[test]
    fn a_kind_made_of_several_members_ends_it() {
        let got = verdict("chemical elements", "Benzene", &["A compound", "Benzene"]);
        assert_eq!(got, (Answer::No, vec![Kind], 1));
        let got = verdict("chemical compounds", "Benzene", &["A compound", "Benzene"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
    }

    #[test]
    fn a_member_confused_with_another_is_asked_plainly() {
        let got = verdict("US states", "Alabama", &["State", "Mississippi", "Alabama"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Plain], 3));
        let got = verdict("US states", "Alabama", &["State", "Mississippi", "Georgia"]);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Plain], 3));
        let got = verdict("US states", "Ohio", &["State", "Ohio"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
        let got = verdict(
            "chemical elements",
            "Nitrogen fluoropyruvate",
            &["Salt", "Nitrogen"],
        );
        assert_eq!(got, (Answer::No, vec![Kind, Strict], 2));
    }

    #[test]
    fn a_code_stands_only_as_the_code_of_the_name_given() {
        let iowa = ["State", "Mississippi", "MS", "Iowa", "IA"];
        let got = verdict("US states", "IA", &iowa);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code, Plain, Code], 5));
        let radium = ["Letter", "Radium", "Ra", "Radium", "Ra"];
        let got = verdict("chemical elements", "R", &radium);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Code, Plain, Code], 5));
        let got = verdict("chemical elements", "Fe", &["Metal", "Iron", "Fe"]);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code], 3));
    }

    #[test]
    fn a_symbol_answered_with_itself_must_be_named() {
        let helium = ["Gas", "He", "Helium", "He"];
        let got = verdict("chemical elements", "He", &helium);
        assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Plain, Code], 4));
        let got = verdict("chemical elements", "Ib", &["Element", "Ib", "Ib"]);
        assert_eq!(got, (Answer::No, vec![Kind, Strict, Plain], 3));
    }

    #[test]
    fn a_failed_call_leaves_it_unsure_and_what_was_answered_paid() {
        assert_eq!(
            verdict("US states", "Ohio", &[]),
            (Answer::Unsure, vec![Kind], 0)
        );
        let got = verdict("US states", "NY", &["State", "New York"]);
        assert_eq!(got, (Answer::Unsure, vec![Kind, Strict, Code], 2));
    }
}
