//! Partition jobs: the coordinator asks one worker of the queue group
//! (`igentai.jobs.partitions`) for sub-categories of the topic or of a
//! partition, and gets the names and what they cost.

use std::collections::BTreeSet;

use igentai_protocol::{PartitionReply, PartitionRequest, VERSION};
use tokio_util::sync::CancellationToken;

use super::call;
use crate::generate::Shared;
use crate::parse::parse_answer;
use crate::prompt;

/// Most sub-categories a job may ask for.
const MAX_COUNT: u32 = 100;

/// Answers one job; `cancel` (shutdown) abandons it.
pub(crate) async fn answer(
    shared: &Shared,
    request: &PartitionRequest,
    cancel: &CancellationToken,
) -> PartitionReply {
    let refuse = |error: String| PartitionReply {
        v: VERSION,
        worker_id: shared.worker_id.clone(),
        ok: false,
        error: Some(error),
        partitions: vec![],
        provider: String::new(),
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0.0,
    };
    if request.count == 0 || request.count > MAX_COUNT || request.topic.trim().is_empty() {
        return refuse(format!("a job needs a topic and a count of 1-{MAX_COUNT}"));
    }
    let prompt = prompt::partitions(request);
    let (provider, completion) = match call(shared, &request.weights, &prompt, cancel).await {
        Ok(answered) => answered,
        Err(failed) => {
            return PartitionReply {
                provider: failed.provider,
                ..refuse(failed.error)
            };
        }
    };
    let truncated = completion.finish_reason.as_deref() == Some("length");
    let partitions = distinct(
        parse_answer(&completion.text, truncated, &prompt),
        request.parent.as_deref(),
        request.count as usize,
    );
    PartitionReply {
        v: VERSION,
        worker_id: shared.worker_id.clone(),
        ok: !partitions.is_empty(),
        error: partitions
            .is_empty()
            .then(|| "the answer named no sub-category".to_string()),
        partitions,
        provider,
        tokens_in: completion.tokens_in,
        tokens_out: completion.tokens_out,
        cost_usd: completion.cost_usd,
    }
}

/// The first `count` names, each once (ignoring case), without the parent
/// itself.
pub fn distinct(names: Vec<String>, parent: Option<&str>, count: usize) -> Vec<String> {
    let mut seen = BTreeSet::new();
    if let Some(parent) = parent {
        seen.insert(parent.to_lowercase());
    }
    names
        .into_iter()
        .filter(|n| seen.insert(n.to_lowercase()))
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_bounded_and_not_the_parent() {
        let names = ["Museums", "Parks", "museums", "Art", "Markets"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            distinct(names.clone(), None, 10),
            ["Museums", "Parks", "Art", "Markets"]
        );
        assert_eq!(
            distinct(names.clone(), Some("Art"), 10),
            ["Museums", "Parks", "Markets"]
        );
        assert_eq!(distinct(names, None, 2), ["Museums", "Parks"]);
    }
}
