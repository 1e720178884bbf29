//! The bare load generator: `concurrency` loops, each sending the worker's
//! prompt through the worker's own provider the moment its last answer
//! came, until the window ends, with nothing else around them (no NATS, no
//! parsing, no publishing). What a client that only keeps the server busy
//! gets from it.

use std::time::{Duration, Instant};

use igentai_protocol::now_ms;
use worker::prompt::Prompt;
use worker::providers::Provider;

use super::cpu::Sample;
use super::window::{Call, Window};
use super::{Phase, SERVER};
use crate::throughput::procs;

/// Calls from `concurrency` loops for `window`; each loop's last call,
/// sent before the window ends, is waited for, so the server is idle when
/// this returns. `server_pid` is the model server's, for its CPU time.
pub async fn measure(
    provider: &Provider,
    prompt: &Prompt,
    concurrency: usize,
    window: Duration,
    server_pid: Option<u32>,
) -> anyhow::Result<Phase> {
    let mut watched = vec![("load generator", std::process::id())];
    watched.extend(server_pid.map(|p| (SERVER, p)));
    let cpu_before = Sample::now(&watched);
    let (from_ms, started) = (now_ms(), Instant::now());
    let deadline = started + window;
    let one_loop = || async {
        let (mut calls, mut failures) = (Vec::new(), 0);
        while Instant::now() < deadline {
            let sent_ms = now_ms();
            match provider.complete(prompt).await {
                Ok(c) => calls.push(Call {
                    sent_ms,
                    done_ms: now_ms(),
                    tokens_in: c.tokens_in,
                    tokens_cached_in: c.tokens_cached_in,
                    tokens_out: c.tokens_out,
                }),
                Err(e) => {
                    eprintln!("a call failed: {e}");
                    failures += 1;
                }
            }
        }
        (calls, failures)
    };
    let loops = futures::future::join_all((0..concurrency).map(|_| one_loop())).await;
    // The window is over at the deadline; the calls still open then
    // finished after it and are not counted.
    let to_ms = from_ms + window.as_millis() as u64;
    let cpu = Sample::now(&watched).shares_since(&cpu_before, started.elapsed());
    let failures = loops.iter().map(|(_, f)| f).sum();
    let calls: Vec<Call> = loops.into_iter().flat_map(|(c, _)| c).collect();
    let window = Window::of(&calls, from_ms, to_ms).ok_or_else(|| {
        anyhow::anyhow!("fewer than two answers in the window: give it more --seconds")
    })?;
    Ok(Phase {
        name: "bare",
        concurrency,
        window,
        failures,
        cpu,
        load_after: procs::load_average(),
    })
}
