//! The judge's answers about the topic alone, the same for every item
//! ([`Question::KindAmong`], [`Question::Beginning`]): each asked once a
//! worker (or once a benchmark run), then recalled free.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use crate::prompt::{Prompt, Question, Task};
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::prompt::{
        self,
        Question::{KindAmong, Strict},
    };

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
}
