//! One run of a simulated fleet in virtual time, without NATS and without
//! sleeping: the coordinator's real steering (`Steering`: bandit, partition
//! tree, avoid hints), dedup (`batch::vet`, `SeenSet`), and the workers'
//! real prompt building, answer parsing, provider choice, breakers and
//! backoff, calling the real `sim` provider through its non-waiting
//! [`Sim::answer_at`](worker::providers::Sim::answer_at).
//!
//! A queue of timed events replaces the clocks: each worker slot starts a
//! call when the previous one ends, a call ends after the latency the sim
//! drew, the coordinator ticks every second (as its metrics interval does)
//! and partition jobs come back after their own latency. Weight updates and
//! assignments reach workers at once. Every answer's tokens, cost and new
//! items are recorded, so one run can be read at any budget; each parsed
//! candidate is judged against the sim's [`Truth`] (which item it really
//! is), so the run also counts true distinct items, junk and wrong merges
//! (`truth.rs`). A batch-mode provider gets the turns the weights draw for
//! it as requests of its next vendor batch, answered late and together
//! (`batch.rs`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use coordinator::BatchOutcome;
use coordinator::Run;
use coordinator::SeenSet;
use coordinator::Steering;
use coordinator::vet;
use igentai_protocol::{
    Answer as JudgeAnswer, Assignment, CandidateBatch, PartitionRequest, StartRequest, VERSION,
};
use tokio::time::Instant;
use worker::batches::turns;
use worker::jobs::distinct;
use worker::parse::parse_answer;
use worker::prompt::{self, Prompt};
use worker::providers::guard::{Admission, Gate};
use worker::providers::sim::Universe;
use worker::providers::sim::{Truth, Verdict};
use worker::providers::{Completion, LlmError, choose};
use worker::rng::Rng;

use super::batch::{Tag, Turns};
use super::fleet::{Degradation, Fleet};
pub use super::scenario::{Limit, Scenario};
pub use super::trace::{Answer, Point, Trace};
use super::truth::Ledger;

/// The coordinator's tick (its metrics interval), when it steers.
pub const TICK_MS: u64 = 1_000;
/// Duplicates of a batch passed on for the avoid hints, as in ingest.
const DUPLICATE_SAMPLE: usize = 64;

enum Event {
    Tick,
    /// A slot of this worker is free; `live` when its turn was drawn for
    /// a live call already (it waited for a provider).
    Start {
        worker: usize,
        live: bool,
    },
    Done(Call),
    /// A partition job's answer is back.
    Split {
        parent: Option<String>,
        call: Call,
    },
}

/// A call to a provider and how it ended.
struct Call {
    worker: usize,
    provider: usize,
    admission: Admission,
    partition: Option<String>,
    result: Result<Completion, LlmError>,
    latency_ms: u64,
    /// The prompt carried an avoid hint.
    hinted: bool,
    /// What the answer's lines really name, and the world they name it in.
    truth: Truth,
    universe: Arc<Universe>,
    prompt: Prompt,
    /// An answer out of a vendor batch.
    batch: Option<Tag>,
}

struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Earliest first out of the (max-)heap.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct WorkerState {
    id: String,
    assignment: Assignment,
    rng: Rng,
    gates: Vec<Gate>,
    turns: Turns,
}

struct Engine<'a> {
    fleet: &'a Fleet,
    scenario: &'a Scenario,
    base: Instant,
    now: u64,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    run: Run,
    steering: Steering,
    seen: SeenSet,
    ledger: Ledger,
    workers: Vec<WorkerState>,
    degraded: Option<(usize, Degradation)>,
    jobs: usize,
    totals: Point,
    stopped: bool,
    trace: Trace,
}

/// Runs `scenario` on `fleet` until its limit.
pub fn run(fleet: &Fleet, scenario: &Scenario) -> Trace {
    let request = StartRequest {
        topic: fleet.topic.clone(),
        strategies: scenario.strategies,
        ..Default::default()
    };
    let run = Run::new(&request, "bench", Path::new("bench"), 0, 0);
    let mut steering = Steering::tuned(
        scenario.strategies,
        scenario.fixed.clone(),
        scenario.tuning.clone(),
    );
    let workers = (0..fleet.workers)
        .map(|w| {
            let id = format!("w{}", w + 1);
            WorkerState {
                assignment: steering.assignment(&run, &id, 0),
                id,
                rng: Rng::new(scenario.seed.wrapping_mul(1_000_003) + w as u64),
                gates: fleet.providers.iter().map(|_| Gate::default()).collect(),
                turns: Turns::new(fleet.providers.len()),
            }
        })
        .collect();
    let mut engine = Engine {
        fleet,
        scenario,
        base: Instant::now(),
        now: 0,
        queue: BinaryHeap::new(),
        seq: 0,
        run,
        steering,
        seen: SeenSet::default(),
        ledger: Ledger::default(),
        workers,
        degraded: None,
        jobs: 0,
        totals: Point::default(),
        stopped: false,
        trace: Trace::default(),
    };
    engine.schedule(0, Event::Tick);
    for worker in 0..fleet.workers {
        for _ in 0..fleet.slots {
            engine.schedule(
                0,
                Event::Start {
                    worker,
                    live: false,
                },
            );
        }
    }
    while let Some(next) = engine.queue.pop() {
        if next.at > scenario.limit.ms || engine.stopped {
            break;
        }
        engine.now = next.at;
        match next.event {
            Event::Tick => engine.tick(),
            Event::Start { worker, live } => engine.start(worker, live),
            Event::Done(call) => engine.done(call),
            Event::Split { parent, call } => engine.split(parent, call),
        }
    }
    engine.finish()
}

impl Engine<'_> {
    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    fn instant(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    /// A provider for one call of `worker`, drawn by `weights` among the
    /// ones its gates let through, as the worker's pool draws; or when to
    /// try again (at most a second away, as a worker's wait is bounded).
    fn lease(
        &mut self,
        worker: usize,
        weights: &BTreeMap<String, f64>,
    ) -> Result<(usize, Admission), u64> {
        let now = self.instant(self.now);
        let fleet = self.fleet;
        let w = &mut self.workers[worker];
        let healthy: Vec<usize> = (0..fleet.providers.len())
            .filter(|&p| fleet.providers[p].batch.is_none() && w.gates[p].healthy(now))
            .collect();
        let weight = |p: usize| {
            weights
                .get(&fleet.providers[p].name)
                .copied()
                .filter(|x| x.is_finite() && *x > 0.0)
        };
        let mut candidates: Vec<(usize, f64)> = healthy
            .iter()
            .filter_map(|&p| Some((p, weight(p)?)))
            .collect();
        if candidates.is_empty() {
            candidates = healthy.iter().map(|&p| (p, 1.0)).collect();
        }
        let mut retry = self.now + 1_000;
        while let Some(i) = choose(
            &candidates.iter().map(|c| c.1).collect::<Vec<_>>(),
            &mut w.rng,
        ) {
            let p = candidates[i].0;
            match w.gates[p].admit(now) {
                Ok(admission) => return Ok((p, admission)),
                Err(t) => {
                    // The probe already out ends within a call.
                    let t = t.unwrap_or(now + std::time::Duration::from_millis(500));
                    let ms = t.saturating_duration_since(self.base).as_millis() as u64;
                    retry = retry.min(ms.max(self.now + 1));
                }
            }
            candidates.swap_remove(i);
        }
        Err(retry)
    }

    /// Calls provider `p` for `worker` with `prompt`; returns the call and
    /// when it ends.
    fn call(
        &mut self,
        worker: usize,
        p: usize,
        admission: Admission,
        prompt: &worker::prompt::Prompt,
        partition: Option<String>,
    ) -> (Call, u64) {
        let degraded = self.degraded.filter(|d| d.0 == p).map(|d| d.1);
        let sim = self.fleet.providers[p].model(degraded);
        let (result, latency, truth) = sim.answer_with_truth(prompt, &mut self.workers[worker].rng);
        let latency_ms = (latency.as_millis() as u64).max(1);
        let call = Call {
            worker,
            provider: p,
            admission,
            partition,
            result,
            latency_ms,
            hinted: !prompt.avoid.is_empty(),
            truth,
            universe: sim.universe(&prompt.topic),
            prompt: prompt.clone(),
            batch: None,
        };
        (call, self.now + latency_ms)
    }

    fn start(&mut self, worker: usize, live: bool) {
        let assignment = self.workers[worker].assignment.clone();
        if !live && let Some(p) = self.batch_turn(worker, &assignment.weights) {
            let now = self.instant(self.now);
            let w = &mut self.workers[worker];
            w.turns.runners[p].pending.add(now);
            let rest = w.turns.pace.get().as_millis() as u64;
            self.schedule(
                self.now + rest.max(1),
                Event::Start {
                    worker,
                    live: false,
                },
            );
            return;
        }
        let prompt = prompt::build(&assignment);
        match self.lease(worker, &assignment.weights) {
            Ok((p, admission)) => {
                let (call, at) = self.call(worker, p, admission, &prompt, assignment.partition);
                self.schedule(at, Event::Done(call));
            }
            Err(at) => self.schedule(at, Event::Start { worker, live: true }),
        }
    }

    /// The batch-mode provider (its index in the fleet) this turn of
    /// `worker` goes to, drawn as the worker's slots draw.
    fn batch_turn(&mut self, worker: usize, weights: &BTreeMap<String, f64>) -> Option<usize> {
        let providers = &self.fleet.providers;
        let state = &mut self.workers[worker];
        let (batch, live): (Vec<usize>, Vec<usize>) =
            (0..providers.len()).partition(|&p| providers[p].batch.is_some());
        // As the worker's slots: one at its limit with a full batch drawn
        // takes no turns.
        let batch: Vec<usize> = batch
            .into_iter()
            .filter(|&p| {
                let runner = &state.turns.runners[p];
                providers[p].batch.is_some_and(|mode| {
                    turns::takes_turns(
                        runner.in_flight,
                        mode.max_in_flight,
                        runner.pending.count(),
                        mode.size,
                    )
                })
            })
            .collect();
        let names = |ps: &[usize]| -> Vec<&str> {
            ps.iter().map(|&p| providers[p].name.as_str()).collect()
        };
        turns::draw(weights, &names(&live), &names(&batch), &mut state.rng).map(|i| batch[i])
    }

    /// Submits the batches due on every worker: the requests its turns
    /// drew, or, without live providers, full batches the weights want;
    /// each answer drawn now and delivered after the turnaround.
    fn submit_batches(&mut self) {
        let fleet = self.fleet;
        let paced = fleet.providers.iter().any(|p| p.batch.is_none());
        let now = self.instant(self.now);
        for worker in 0..self.workers.len() {
            for (p, provider) in fleet.providers.iter().enumerate() {
                let Some(mode) = provider.batch else { continue };
                loop {
                    let w = &self.workers[worker];
                    let runner = &w.turns.runners[p];
                    if runner.in_flight >= mode.max_in_flight {
                        break;
                    }
                    let n = match paced {
                        true => runner.pending.take_due(now, mode.size, mode.fill),
                        false => turns::wanted(&w.assignment.weights, &provider.name)
                            .then_some(mode.size),
                    };
                    let Some(n) = n else { break };
                    let assignment = w.assignment.clone();
                    let prompt = prompt::build(&assignment);
                    self.workers[worker].turns.runners[p].in_flight += 1;
                    for k in 0..n {
                        let (mut call, _) = self.call(
                            worker,
                            p,
                            Admission::Call,
                            &prompt,
                            assignment.partition.clone(),
                        );
                        call.batch = Some(Tag { last: k + 1 == n });
                        let at = self.now + mode.turnaround_ms + u64::from(k);
                        self.schedule(at, Event::Done(call));
                    }
                }
            }
        }
    }

    /// Records the call's end at its gate; its completion when it has one.
    fn settle(&mut self, call: &Call) -> Option<Completion> {
        let now = self.instant(self.now);
        let w = &mut self.workers[call.worker];
        let unit = w.rng.unit();
        let gate = &mut w.gates[call.provider];
        match (&call.result, call.batch) {
            // A batch's failed requests cost nothing and trip no breaker.
            (_, Some(_)) => {}
            (Ok(_), None) => gate.on_success(),
            (Err(e), None) => {
                gate.on_failure(e, call.admission, now, unit);
            }
        }
        if call.batch.is_none() {
            w.turns.pace.observe(Duration::from_millis(call.latency_ms));
        }
        let name = &self.fleet.providers[call.provider].name;
        if call.result.is_err() && call.batch.is_none() {
            // The coordinator hears of failed calls from heartbeats.
            self.steering.observe_failures(name, 1, self.now);
        }
        let c = call.result.as_ref().ok()?.clone();
        self.totals.tokens += c.tokens_in + c.tokens_out;
        self.totals.usd += c.cost_usd;
        let usage = self.trace.by_provider.entry(name.clone()).or_default();
        usage.answers += 1;
        usage.hinted += u64::from(call.hinted);
        usage.tokens_in += c.tokens_in;
        usage.tokens_out += c.tokens_out;
        usage.usd += c.cost_usd;
        Some(c)
    }

    fn record_point(&mut self) {
        self.totals.ms = self.now;
        self.totals.truth = self.ledger.tally;
        self.trace.points.push(self.totals);
        let limit = self.scenario.limit;
        if self.totals.tokens >= limit.tokens || self.totals.usd >= limit.usd {
            self.stopped = true;
        }
    }

    fn done(&mut self, call: Call) {
        if let Some(c) = self.settle(&call) {
            let items = parse(&c, &call.prompt);
            let verdicts: Vec<Verdict> = items
                .iter()
                .map(|item| call.truth.judge(&call.universe, item))
                .collect();
            let (outcome, duplicates, fresh) =
                dedup(&mut self.seen, &mut self.ledger, &items, &verdicts);
            let batch = CandidateBatch {
                v: VERSION,
                batch_id: String::new(),
                run_id: self.run.info.run_id.clone(),
                topic: self.run.info.topic.clone(),
                worker_id: self.workers[call.worker].id.clone(),
                provider: self.fleet.providers[call.provider].name.clone(),
                model: c.model,
                partition: call.partition.clone(),
                items,
                tokens_in: c.tokens_in,
                tokens_cached_in: 0,
                tokens_out: c.tokens_out,
                latency_ms: call.latency_ms,
                cost_usd: c.cost_usd,
                finish_reason: c.finish_reason,
                request_id: None,
                created_at_ms: self.now,
            };
            self.steering
                .observe(&batch, outcome, &borrowed(&duplicates), self.now);
            // Every new item judged, as a run's default judge_rate 1 does,
            // by a judge that knows the world (its calls are not charged).
            for verdict in fresh {
                let answer = match verdict.item() {
                    Some(_) => JudgeAnswer::Yes,
                    None => JudgeAnswer::No,
                };
                self.steering
                    .observe_verdict(&batch.provider, batch.partition.as_deref(), answer);
            }
            self.totals.unique += outcome.new;
            let name = &self.fleet.providers[call.provider].name;
            if let Some(usage) = self.trace.by_provider.get_mut(name) {
                usage.new += outcome.new;
            }
            self.trace.answers.push(Answer {
                ms: self.now,
                provider: call.provider,
                tokens: batch.tokens_in + batch.tokens_out,
                usd: batch.cost_usd,
                new: outcome.new,
                hinted: call.hinted,
            });
            self.record_point();
        }
        match call.batch {
            Some(tag) => {
                if tag.last {
                    self.workers[call.worker].turns.runners[call.provider].in_flight -= 1;
                }
            }
            None => self.schedule(
                self.now,
                Event::Start {
                    worker: call.worker,
                    live: false,
                },
            ),
        }
    }

    fn tick(&mut self) {
        let now = self.instant(self.now);
        let healthy: Vec<String> = (0..self.fleet.providers.len())
            .filter(|&p| self.workers.iter_mut().any(|w| w.gates[p].healthy(now)))
            .map(|p| self.fleet.providers[p].name.clone())
            .collect();
        let ids: Vec<String> = self.workers.iter().map(|w| w.id.clone()).collect();
        let plan = self.steering.tick(&healthy, &ids, self.now);
        if plan.weights_changed {
            let weights = self.steering.weights().0.clone();
            for w in &mut self.workers {
                w.assignment.weights = weights.clone();
            }
        }
        for parent in plan.split {
            self.request_partitions(parent);
        }
        for id in plan.reassign {
            if let Some(i) = ids.iter().position(|w| *w == id) {
                self.workers[i].assignment = self.steering.assignment(&self.run, &id, self.now);
            }
        }
        self.submit_batches();
        let weights = self.effective_weights();
        if let Some((at, how)) = self.scenario.degrade
            && self.degraded.is_none()
            && self.now >= at
        {
            let leader = (0..self.fleet.providers.len())
                .max_by(|&a, &b| {
                    let w = |p: usize| weights[&self.fleet.providers[p].name];
                    w(a).total_cmp(&w(b))
                })
                .unwrap_or(0);
            self.degraded = Some((leader, how));
            self.trace.degraded = Some(self.fleet.providers[leader].name.clone());
        }
        self.trace.weights.push((self.now, weights));
        self.schedule(self.now + TICK_MS, Event::Tick);
    }

    /// The weights workers draw by: the published ones, uniform when none.
    fn effective_weights(&self) -> BTreeMap<String, f64> {
        let (weights, _, _) = self.steering.weights();
        let n = self.fleet.providers.len() as f64;
        self.fleet
            .providers
            .iter()
            .map(|p| {
                let w = match weights.is_empty() {
                    true => 1.0 / n,
                    false => weights.get(&p.name).copied().unwrap_or(0.0),
                };
                (p.name.clone(), w)
            })
            .collect()
    }

    /// A partition job, answered by one worker of the queue group in turn.
    fn request_partitions(&mut self, parent: Option<String>) {
        let request = PartitionRequest {
            v: VERSION,
            run_id: self.run.info.run_id.clone(),
            topic: self.run.info.topic.clone(),
            parent: parent.clone(),
            count: self.steering.fanout(),
            weights: self.steering.weights().0.clone(),
        };
        let worker = self.jobs % self.workers.len();
        self.jobs += 1;
        match self.lease(worker, &request.weights) {
            Ok((p, admission)) => {
                let prompt = prompt::partitions(&request);
                let (call, at) = self.call(worker, p, admission, &prompt, parent.clone());
                self.schedule(at, Event::Split { parent, call });
            }
            Err(_) => {
                self.steering
                    .split_done(parent.as_deref(), Err("no provider".into()));
            }
        }
    }

    fn split(&mut self, parent: Option<String>, call: Call) {
        let names = match self.settle(&call) {
            Some(c) => {
                // What the partitions strategy costs beyond its answers.
                self.steering
                    .charge_split(c.tokens_in + c.tokens_out, c.cost_usd);
                let count = self.steering.fanout() as usize;
                let names = distinct(parse(&c, &call.prompt), parent.as_deref(), count);
                self.record_point();
                match names.is_empty() {
                    true => Err("the answer named no sub-category".to_string()),
                    false => Ok(names),
                }
            }
            None => Err("the call failed".to_string()),
        };
        self.steering.split_done(parent.as_deref(), names);
    }

    fn finish(mut self) -> Trace {
        let mut states = Vec::new();
        self.steering.annotate(&mut states);
        for s in states {
            *self.trace.partitions.entry(s.state).or_default() += 1;
        }
        self.trace
    }
}

/// The candidates of an answer, as the worker's parser takes them (the one
/// place the engine calls it, for items and sub-categories alike).
fn parse(c: &Completion, prompt: &Prompt) -> Vec<String> {
    let truncated = c.finish_reason.as_deref() == Some("length");
    parse_answer(&c.text, truncated, prompt)
}

/// Dedup of one answer's items into the seen-set, as the coordinator's
/// ingest does it: unusable lines dropped, new items counted, a sample of
/// the duplicates kept for the avoid hints; and each candidate's verdict
/// booked against the key it made or fell into. Returns the outcome, the
/// duplicates' sample and the verdicts of the new items.
fn dedup(
    seen: &mut SeenSet,
    ledger: &mut Ledger,
    items: &[String],
    verdicts: &[Verdict],
) -> (BatchOutcome, Vec<(u128, String)>, Vec<Verdict>) {
    let mut outcome = BatchOutcome::default();
    let mut duplicates = Vec::new();
    let mut fresh = Vec::new();
    for (raw, &verdict) in items.iter().zip(verdicts) {
        let Some(item) = vet(raw) else {
            outcome.invalid += 1;
            continue;
        };
        outcome.candidates += 1;
        if seen.insert(item.hash) {
            outcome.new += 1;
            fresh.push(verdict);
            ledger.stored(item.hash, verdict);
        } else {
            ledger.merged(item.hash, verdict);
            if duplicates.len() < DUPLICATE_SAMPLE {
                duplicates.push((item.hash, item.text));
            }
        }
    }
    (outcome, duplicates, fresh)
}

/// Duplicates as ingest hands them to the steering.
fn borrowed(duplicates: &[(u128, String)]) -> Vec<(u128, &str)> {
    duplicates.iter().map(|(h, t)| (*h, t.as_str())).collect()
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
