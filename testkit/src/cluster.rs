//! A real three-node (or n-node) NATS cluster on loopback ports, for tests
//! of what survives the loss of a node: each node runs the repository's
//! `nats.conf` with the same users, plus a cluster block naming the node
//! (`server_name: n<i>`) and the routes to all nodes, as
//! `scripts/start-nats.sh` renders it with `NATS_CLUSTER=3`; each node has
//! its own store and log. Nodes can be killed (SIGKILL) and restarted on
//! the same ports and store. A node starts, logs clients in and reloads
//! as the single [`crate::NatsServer`] does (`server.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::login::connect;
use crate::server::{WorkerUsers, reload_node, render_nats_conf, spawn_node, wait_node};
use crate::{Nats, Proc, Role, WorkerIdentity, free_port};

/// The cluster's name in every node's cluster block.
pub const CLUSTER_NAME: &str = "igentai";

/// The block appended to the rendered `nats.conf` of node `name`: its
/// server name (JetStream clustering needs one per node) and its routes.
/// Every node lists every route, its own included (the server skips it).
pub fn cluster_block(name: &str, route_port: u16, route_ports: &[u16]) -> String {
    let routes: Vec<String> = route_ports
        .iter()
        .map(|p| format!("nats-route://127.0.0.1:{p}"))
        .collect();
    format!(
        "\nserver_name: {name}\ncluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{route_port}\n  routes: [{}]\n}}\n",
        routes.join(", ")
    )
}

struct Node {
    name: String,
    port: u16,
    route_port: u16,
    monitor_port: u16,
    store: PathBuf,
    /// `None` while killed.
    proc: Option<Proc>,
}

/// A NATS cluster whose nodes are real nats-servers; killed on drop.
pub struct NatsCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    workers: WorkerUsers,
}

impl NatsCluster {
    /// Starts `size` nodes and waits until JetStream answers (a meta
    /// leader was elected).
    pub async fn start(dir: &Path, size: usize) -> NatsCluster {
        let nodes = (1..=size)
            .map(|i| Node {
                name: format!("n{i}"),
                port: free_port(),
                route_port: free_port(),
                monitor_port: free_port(),
                store: dir.join(format!("nats-n{i}")),
                proc: None,
            })
            .collect();
        let mut cluster = NatsCluster {
            dir: dir.to_path_buf(),
            nodes,
            workers: WorkerUsers::default(),
        };
        cluster.render(&[]);
        for i in 0..size {
            cluster.spawn(i);
        }
        for i in 0..size {
            cluster.wait_node(i).await;
        }
        cluster.wait_jetstream().await;
        cluster
    }

    /// The client URL of node `i` (from 0).
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].port)
    }

    /// Every node's URL, comma-separated: the `NATS_URL` of a role.
    pub fn urls(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The server name of node `i`: `n1`, `n2`, ...
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// The index of the node named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn conf_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("nats-{}.conf", self.nodes[i].name))
    }

    /// Writes every node's configuration with `workers`' users.
    fn render(&self, workers: &[WorkerIdentity]) {
        let base = render_nats_conf(&self.dir, workers);
        let routes: Vec<u16> = self.nodes.iter().map(|n| n.route_port).collect();
        for (i, node) in self.nodes.iter().enumerate() {
            let text = format!(
                "{base}{}",
                cluster_block(&node.name, node.route_port, &routes)
            );
            std::fs::write(self.conf_path(i), text).expect("write a node's nats.conf");
        }
    }

    fn spawn(&mut self, i: usize) {
        let conf = self.conf_path(i);
        let node = &mut self.nodes[i];
        node.proc = Some(spawn_node(
            &format!("nats-{}", node.name),
            &conf,
            node.port,
            node.monitor_port,
            &node.store,
            &self.dir,
        ));
    }

    async fn wait_node(&self, i: usize) {
        let what = format!("nats node {}", self.nodes[i].name);
        wait_node(&what, &self.url(i)).await;
    }

    /// Waits until the cluster's JetStream answers API requests.
    pub async fn wait_jetstream(&self) {
        let js = async_nats::jetstream::new(self.client().await);
        crate::wait_for(
            "JetStream to elect a meta leader",
            // Seconds, or tens of seconds on a loaded 2-core machine.
            Duration::from_secs(90),
            || {
                let js = js.clone();
                async move { js.query_account().await.ok().map(|_| ()) }
            },
        )
        .await;
    }

    /// Kills node `i` with SIGKILL: no goodbye to its routes or clients.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut proc) = self.nodes[i].proc.take() {
            proc.kill9();
        }
    }

    /// Starts node `i` again on the same ports and store (with the workers
    /// added meanwhile) and waits until it accepts clients.
    pub async fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.render(&self.workers.all());
        self.spawn(i);
        self.wait_node(i).await;
    }

    /// The node leading stream `name`, from its info (`None` while none
    /// does).
    pub async fn stream_leader(&self, name: &str) -> Option<usize> {
        let js = async_nats::jetstream::new(self.client().await);
        let mut stream = js.get_stream(name).await.ok()?;
        let info = stream.info().await.ok()?;
        self.index(info.cluster.as_ref()?.leader.as_deref()?)
    }

    /// A client logged in as the operator, with every node's URL.
    pub async fn client(&self) -> async_nats::Client {
        self.client_as(Role::Operator).await
    }

    /// A client logged in as `role`, with every node's URL.
    pub async fn client_as(&self, role: Role) -> async_nats::Client {
        let urls: Vec<String> = (0..self.nodes.len()).map(|i| self.url(i)).collect();
        connect(role, &urls).await
    }

    /// Gives worker `id` its own user on every running node, as
    /// `scripts/add-worker.sh` does on a cluster: renders every node's
    /// configuration, reloads each (SIGHUP) and waits until the worker can
    /// log in on each.
    pub async fn add_worker(&self, id: &str) -> WorkerIdentity {
        let identity = WorkerIdentity::new(id);
        if !self.workers.add(&identity, |all| self.render(all)) {
            return identity;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(proc) = &node.proc else { continue };
            reload_node(proc, &self.url(i), &identity).await;
        }
        identity
    }
}

impl Nats for NatsCluster {
    fn urls(&self) -> String {
        NatsCluster::urls(self)
    }

    async fn add_worker(&self, id: &str) -> WorkerIdentity {
        NatsCluster::add_worker(self, id).await
    }
}
