//! How many copies of the candidate stream (and of the coordinator's
//! key-value buckets) a NATS cluster keeps, and where they are.
//!
//! On one nats-server everything has one copy. On a cluster a stream with
//! three copies survives the loss of any one node: the count is decided
//! once at start (`IGENTAI_STREAM_REPLICAS`, `auto` = min(3, cluster size)),
//! an existing stream with fewer copies is grown to it, and the stream's
//! copies and leader are read every few seconds for the status, so an
//! operator sees a lost peer before losing a second one.
//!
//! The cluster size is what the server tells every client when it
//! connects: its cluster's name and the client URLs of the nodes it is
//! routed to (`connect_urls`, the node itself included).

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use igentai_protocol::{StreamPeer, StreamStatus};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// JetStream keeps at most this many copies of a stream.
pub const MAX_REPLICAS: usize = 5;
/// What `auto` asks for on a cluster big enough: survives one lost node.
pub const AUTO_REPLICAS: usize = 3;
/// How often the streams' status is read.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// `IGENTAI_STREAM_REPLICAS`: `auto` or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    Auto,
    Fixed(usize),
}

impl std::str::FromStr for Replicas {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Replicas::Auto),
            n => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_REPLICAS).contains(&n) => Ok(Replicas::Fixed(n)),
                _ => Err(format!(
                    "stream replicas must be `auto` or a count from 1 to {MAX_REPLICAS}, not {s:?}"
                )),
            },
        }
    }
}

/// The replica count for a cluster of `cluster_size` nodes; an error
/// names a count the cluster cannot place.
pub fn choose(setting: Replicas, cluster_size: usize) -> Result<usize, String> {
    let size = cluster_size.max(1);
    match setting {
        Replicas::Auto => Ok(size.min(AUTO_REPLICAS)),
        Replicas::Fixed(n) if n > size => Err(format!(
            "IGENTAI_STREAM_REPLICAS is {n} but the NATS cluster has {size} node(s): \
             JetStream cannot place {n} copies; lower it or add nodes"
        )),
        Replicas::Fixed(n) => Ok(n),
    }
}

/// How many nodes the connected server's cluster has, as its INFO says.
fn cluster_size(info: &async_nats::ServerInfo) -> usize {
    match &info.cluster {
        Some(_) => info.connect_urls.len().max(1),
        None => 1,
    }
}

/// Decides the replica count once `client` is connected (waiting for it,
/// until `shutdown`): see [`choose`]. `None` when shut down first.
pub async fn decide(
    client: &async_nats::Client,
    setting: Replicas,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<usize>> {
    loop {
        let info = client.server_info();
        if client.connection_state() == async_nats::connection::State::Connected
            && !info.server_id.is_empty()
        {
            let size = cluster_size(&info);
            let replicas = choose(setting, size).map_err(anyhow::Error::msg)?;
            tracing::info!(
                cluster = info.cluster.as_deref().unwrap_or("-"),
                nodes = size,
                replicas,
                "stream replicas decided"
            );
            return Ok(Some(replicas));
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// Grows `stream` to `replicas` copies when it has fewer (a stream created
/// on one node, before the cluster); never shrinks one an operator grew.
pub async fn grow(
    js: &jetstream::Context,
    stream: &mut stream::Stream,
    replicas: usize,
) -> anyhow::Result<()> {
    let info = stream.info().await.context("read the stream's settings")?;
    let mut config = info.config.clone();
    if config.num_replicas >= replicas {
        return Ok(());
    }
    tracing::info!(stream = %config.name, from = config.num_replicas, to = replicas,
        "growing the stream's replicas");
    let name = config.name.clone();
    config.num_replicas = replicas;
    js.update_stream(config)
        .await
        .with_context(|| format!("grow stream {name} to {replicas} replicas"))?;
    Ok(())
}

/// The status of stream `name` from its info.
pub async fn status(js: &jetstream::Context, name: &str) -> anyhow::Result<StreamStatus> {
    let mut stream = js
        .get_stream(name)
        .await
        .with_context(|| format!("find stream {name}"))?;
    let info = stream
        .info()
        .await
        .with_context(|| format!("read stream {name}"))?;
    let cluster = info.cluster.clone().unwrap_or_default();
    Ok(StreamStatus {
        name: info.config.name.clone(),
        replicas: info.config.num_replicas.max(1),
        leader: cluster.leader.filter(|l| !l.is_empty()),
        peers: cluster
            .replicas
            .iter()
            .map(|p| StreamPeer {
                name: p.name.clone(),
                current: p.current,
                offline: p.offline,
            })
            .collect(),
    })
}

/// What an operator should hear about the streams' copies, when `wanted`
/// copies were decided: a stream kept on fewer nodes, or a copy that is
/// offline or behind (one more lost node and the stream stops).
pub fn problem(streams: &[StreamStatus], wanted: usize) -> Option<String> {
    streams.iter().find_map(|s| {
        if s.replicas < wanted {
            return Some(format!(
                "stream {} keeps {} copies, {wanted} wanted: grow it with `nats stream edit {} --replicas {wanted}`",
                s.name, s.replicas, s.name
            ));
        }
        let behind: Vec<&str> = s
            .peers
            .iter()
            .filter(|p| p.offline || !p.current)
            .map(|p| p.name.as_str())
            .collect();
        if s.replicas > 1 && s.leader.is_none() {
            Some(format!("stream {} has no leader: a new one is being elected", s.name))
        } else if !behind.is_empty() {
            Some(format!(
                "stream {}: copies on {} are offline or behind; {} of {} current",
                s.name,
                behind.join(", "),
                s.replicas - behind.len(),
                s.replicas
            ))
        } else {
            None
        }
    })
}

/// Reads the status of `names` every [`STATUS_INTERVAL`] in the background
/// until `shutdown`: the coordinator's loop never waits on a stream info
/// that a leader election delays. A stream that cannot be read keeps its
/// last status.
pub fn watch_streams(
    js: jetstream::Context,
    names: Vec<String>,
    shutdown: CancellationToken,
) -> watch::Receiver<Vec<StreamStatus>> {
    let (tx, rx) = watch::channel(Vec::<StreamStatus>::new());
    tokio::spawn(async move {
        loop {
            let mut streams = tx.borrow().clone();
            for name in &names {
                match tokio::time::timeout(STATUS_INTERVAL, status(&js, name)).await {
                    Ok(Ok(s)) => match streams.iter_mut().find(|x| &x.name == name) {
                        Some(old) => *old = s,
                        None => streams.push(s),
                    },
                    Ok(Err(e)) => tracing::debug!(error = format!("{e:#}"), "stream status"),
                    Err(_) => tracing::debug!(stream = %name, "stream status timed out"),
                }
            }
            tx.send_replace(streams);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(STATUS_INTERVAL) => {}
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(setting: &str, cluster_size: usize, expected: Result<usize, &str>) {
        let got = setting
            .parse::<Replicas>()
            .and_then(|s| choose(s, cluster_size));
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{setting} on {cluster_size}"),
            (Err(e), Err(want)) => assert!(e.contains(want), "{setting}: {e}"),
            (got, want) => panic!("{setting} on {cluster_size}: {got:?}, expected {want:?}"),
        }
    }

    fn stream(replicas: usize, leader: Option<&str>, peers: &[(&str, bool)]) -> StreamStatus {
        StreamStatus {
            name: "s".into(),
            replicas,
            leader: leader.map(str::to_string),
            peers: peers
                .iter()
                .map(|(name, current)| StreamPeer {
                    name: name.to_string(),
                    current: *current,
                    offline: false,
                })
                .collect(),
        }
    }

    fn check_problem(streams: &[StreamStatus], wanted: usize, expected: Option<&str>) {
        let got = problem(streams, wanted);
        match (&got, expected) {
            (None, None) => {}
            (Some(p), Some(want)) => assert!(p.contains(want), "{p}"),
            _ => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn problems() {
        check_problem(&[], 3, None);
        check_problem(&[stream(1, None, &[])], 1, None);
        check_problem(&[stream(1, Some("n1"), &[])], 1, None);
        let healthy = stream(3, Some("n1"), &[("n2", true), ("n3", true)]);
        check_problem(std::slice::from_ref(&healthy), 3, None);
        check_problem(
            &[stream(1, Some("n1"), &[])],
            3,
            Some("keeps 1 copies, 3 wanted"),
        );
        check_problem(
            &[stream(3, Some("n1"), &[("n2", true), ("n3", false)])],
            3,
            Some("copies on n3 are offline or behind; 2 of 3 current"),
        );
        check_problem(&[stream(3, None, &[])], 3, Some("no leader"));
    }

    #[test]
    fn replica_counts() {
        check("auto", 1, Ok(1));
        check("auto", 0, Ok(1));
        check("auto", 2, Ok(2));
        check("auto", 3, Ok(3));
        check("auto", 5, Ok(3));
        check("1", 3, Ok(1));
        check("3", 3, Ok(3));
        check("5", 7, Ok(5));
        check("3", 1, Err("cluster has 1 node(s)"));
        check("0", 3, Err("from 1 to 5"));
        check("6", 9, Err("from 1 to 5"));
        check("three", 3, Err("not \"three\""));
    }
}
