//! Judging on the event loop: sending a run's judge jobs and recording
//! the verdicts they bring back (the scheduling itself is `judge/`).

use std::collections::BTreeMap;

use igentai_protocol::{JudgeRequest, VERSION};

use super::state::{Coordinator, JUDGE_TIMEOUT};
use crate::fleet::dispatch::{self, Judge};
use crate::judge::Pending;
use crate::run::stats::Spend;
use crate::topic::record::JobSpend;
use crate::topic::store::VerdictRecord;

impl Coordinator {
    /// Records one job's verdicts, each once, the first one recorded
    /// carrying the job's `spend`, and learns from them. False when none
    /// was recorded (so the spend is not either).
    pub(super) async fn record_verdicts(
        &mut self,
        topic: &str,
        run_id: &str,
        items: Vec<Pending>,
        answers: Vec<igentai_protocol::Answer>,
        judge: &Judge,
        spend: Spend,
    ) -> bool {
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let mut job = Some(JobSpend {
            tokens_in: spend.tokens_in,
            tokens_out: spend.tokens_out,
            cost_usd: spend.cost_usd,
        });
        for (pending, verdict) in items.into_iter().zip(answers) {
            let record = VerdictRecord {
                verdict_of: pending.seq,
                item: pending.item,
                verdict,
                provider: pending.provider,
                model: pending.model,
                partition: pending.partition,
                judge: judge.provider.clone(),
                judge_model: judge.model.clone(),
                worker: judge.worker_id.clone(),
                run: run_id.to_string(),
                ts: ts.clone(),
                job,
            };
            match self.ingest.add_verdict(topic, &record).await {
                Ok(true) => {
                    job = None;
                    self.stats.record_verdict(&record);
                    self.steering.observe_verdict(
                        &record.provider,
                        record.partition.as_deref(),
                        record.verdict,
                    );
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record a verdict; the item is judged again");
                    break;
                }
            }
        }
        job.is_none()
    }

    /// Sends judge jobs while the run's judging has items waiting and room
    /// in flight (two jobs per alive worker), unless the run's budget is
    /// spent.
    pub(super) async fn judge(&mut self) {
        let (Some(run), Some(judging)) = (&self.run, &mut self.judging) else {
            return;
        };
        if judging.run_id != run.info.run_id
            || run
                .info
                .budget_usd
                .is_some_and(|b| self.stats.cost_usd() >= b)
        {
            return;
        }
        let topic = match self.ingest.open(&judging.topic).await {
            Ok(topic) => topic,
            Err(e) => {
                tracing::debug!(error = %e, "judging waits for the topic's folder");
                return;
            }
        };
        if let Err(e) = judging.read(topic) {
            tracing::warn!(error = %e, "cannot read the items to judge");
            return;
        }
        let room = 2 * self.workers.fleet.alive().count().max(1);
        while judging.in_flight() < room {
            let Some((job, items)) = judging.next_job() else {
                break;
            };
            let weights = match &judging.provider {
                Some(p) => BTreeMap::from([(p.clone(), 1.0)]),
                None => self.steering.weights().0.clone(),
            };
            let request = JudgeRequest {
                v: VERSION,
                run_id: judging.run_id.clone(),
                topic: judging.topic.clone(),
                items,
                weights,
                confirm: judging.confirm,
                closed: judging.closed,
            };
            dispatch::request_verdicts(
                &self.nats.client,
                request,
                job,
                JUDGE_TIMEOUT,
                self.admission.limits(),
                &self.nats.results,
            );
        }
    }
}
