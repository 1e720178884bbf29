//! Judge jobs: the coordinator asks one worker of the queue group
//! (`igentai.jobs.judge`) whether each of up to [`MAX_JUDGE_ITEMS`] items
//! is a real, specific instance of the topic, and gets one [`Answer`] per
//! item and what the call cost. The provider is chosen by the job's
//! weights: the run's judge provider alone when it names one.

use igentai_protocol::{JudgeReply, JudgeRequest, MAX_JUDGE_ITEMS, VERSION};
use tokio_util::sync::CancellationToken;

use super::call;
use crate::generate::Shared;
use crate::parse::parse_verdicts;
use crate::prompt;

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
    let answers = parse_verdicts(&completion.text, &request.items);
    JudgeReply {
        v: VERSION,
        worker_id: shared.worker_id.clone(),
        ok: true,
        error: None,
        answers,
        provider,
        model: completion.model,
        tokens_in: completion.tokens_in,
        tokens_cached_in: completion.tokens_cached_in,
        tokens_out: completion.tokens_out,
        cost_usd: completion.cost_usd,
    }
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
