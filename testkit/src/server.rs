//! A real nats-server with JetStream in its own store directory, started
//! from the repository's `nats.conf` as `scripts/lib.sh` renders it (the
//! one renderer: [`render_nats_conf`] runs it), with port and store
//! overridden; and the pieces a node of [`crate::NatsCluster`] shares with
//! it: starting a node ([`spawn_node`]) and reloading one so a new worker
//! may log in ([`reload_node`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::login::{connect, wait_login};
use crate::{Proc, Role, WorkerIdentity, creds, free_port, options, repo_root};

/// `nats.conf` with its `#worker` template filled in once per worker, as
/// the scripts run it: rendered by `scripts/lib.sh`'s `render_nats_conf`
/// from one worker file per worker (`<id>.env`, as `scripts/add-worker.sh`
/// writes it), in a scratch folder under `dir`.
pub fn render_nats_conf(dir: &Path, workers: &[WorkerIdentity]) -> String {
    let run = dir.join("render-nats-conf");
    let workers_dir = run.join("workers");
    // Exactly these workers: none left from an earlier rendering.
    let _ = std::fs::remove_dir_all(&workers_dir);
    std::fs::create_dir_all(&workers_dir).expect("create the workers folder");
    for w in workers {
        std::fs::write(
            workers_dir.join(format!("{}.env", w.id)),
            format!("NATS_USER={}\nNATS_PASSWORD={}\n", w.user, w.password),
        )
        .expect("write a worker file");
    }
    let out = Command::new("bash")
        .args(["-c", "source \"$1\" && render_nats_conf", "render"])
        .arg(repo_root().join("scripts/lib.sh"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("IGENTAI_RUN_DIR", &run)
        .env("IGENTAI_WORKERS_DIR", &workers_dir)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "scripts/lib.sh render_nats_conf failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(run.join("nats.conf")).expect("read the rendered nats.conf")
}

/// The workers with a user in a server's (or a cluster's) rendered
/// configuration.
#[derive(Default)]
pub(crate) struct WorkerUsers(Mutex<Vec<WorkerIdentity>>);

impl WorkerUsers {
    /// Adds `who` and calls `render` with every worker so far, under the
    /// lock so renderings land in order; false when `who` was there.
    pub(crate) fn add(&self, who: &WorkerIdentity, render: impl FnOnce(&[WorkerIdentity])) -> bool {
        let mut workers = self.0.lock().expect("workers lock");
        if workers.contains(who) {
            return false;
        }
        workers.push(who.clone());
        render(&workers);
        true
    }

    pub(crate) fn all(&self) -> Vec<WorkerIdentity> {
        self.0.lock().expect("workers lock").clone()
    }
}

/// Starts nats-server `name` from configuration `conf` on `port` with its
/// store in `store`, the role passwords in its environment, logging in
/// `dir`.
pub fn spawn_node(
    name: &str,
    conf: &Path,
    port: u16,
    monitor: u16,
    store: &Path,
    dir: &Path,
) -> Proc {
    let (port, monitor) = (port.to_string(), monitor.to_string());
    let mut env = vec![(
        "IGENTAI_NATS_STORE_DIR",
        store.to_str().expect("UTF-8 path"),
    )];
    env.extend(Role::ALL.map(|r| (r.password_var(), r.password())));
    Proc::spawn(
        name,
        Path::new("nats-server"),
        &[
            "-c",
            conf.to_str().expect("UTF-8 path"),
            "-p",
            &port,
            "-m",
            &monitor,
        ],
        &env,
        dir,
    )
}

/// Waits (bounded) until the node at `url` accepts the operator.
pub async fn wait_node(what: &str, url: &str) {
    wait_login(&format!("{what} to accept clients"), url, || {
        options(Role::Operator)
    })
    .await;
}

/// Makes node `proc` (at `url`) read its configuration again (SIGHUP) and
/// waits until worker `who` may log in there.
pub async fn reload_node(proc: &Proc, url: &str, who: &WorkerIdentity) {
    let status = Command::new("kill")
        .args(["-HUP", &proc.pid().to_string()])
        .status()
        .expect("signal nats-server");
    assert!(status.success(), "could not signal {} to reload", proc.name);
    wait_login(
        &format!("{} to let worker {} log in", proc.name, who.id),
        url,
        || who.options(),
    )
    .await;
}

/// A real nats-server with JetStream in its own store directory.
pub struct NatsServer {
    pub port: u16,
    pub url: String,
    pub store: PathBuf,
    proc: Proc,
    dir: PathBuf,
    /// The workers with a user in the rendered configuration.
    workers: WorkerUsers,
}

impl NatsServer {
    pub async fn start(dir: &Path) -> NatsServer {
        // A port found free may be bound by another test's server before
        // this one binds it: a server that exits before it accepts a
        // client is started again on other ports.
        for _ in 0..5 {
            if let Some(server) = Self::try_start(dir, free_port()).await {
                return server;
            }
        }
        panic!("nats-server exited at start five times: {}", dir.display())
    }

    /// Like [`NatsServer::start`], on a given port: for a client that was
    /// started first and already looks there.
    pub async fn start_on(dir: &Path, port: u16) -> NatsServer {
        Self::try_start(dir, port)
            .await
            .unwrap_or_else(|| panic!("nats-server exited at start on port {port}"))
    }

    /// Starts a server on `port` and waits until it accepts a client, or
    /// `None` when it exits first.
    async fn try_start(dir: &Path, port: u16) -> Option<NatsServer> {
        let store = dir.join("jetstream");
        // A new server knows no worker; a restart keeps the ones added.
        Self::render(dir, &[]);
        let proc = Self::spawn(port, &store, dir);
        let url = format!("nats://127.0.0.1:{port}");
        let accepted = crate::wait_for(
            "nats-server to accept clients or exit",
            std::time::Duration::from_secs(20),
            || {
                let (url, pid) = (url.clone(), proc.pid());
                async move {
                    if !crate::alive(pid) {
                        return Some(false);
                    }
                    options(Role::Operator)
                        .connect(&url)
                        .await
                        .ok()
                        .map(|_| true)
                }
            },
        )
        .await;
        accepted.then(|| NatsServer {
            port,
            url,
            store,
            proc,
            dir: dir.to_path_buf(),
            workers: WorkerUsers::default(),
        })
    }

    /// The rendered configuration the server runs with.
    fn conf_path(dir: &Path) -> PathBuf {
        dir.join("nats-server.conf")
    }

    fn render(dir: &Path, workers: &[WorkerIdentity]) {
        std::fs::write(Self::conf_path(dir), render_nats_conf(dir, workers))
            .expect("write the rendered nats.conf");
    }

    fn spawn(port: u16, store: &Path, dir: &Path) -> Proc {
        let conf = Self::conf_path(dir);
        spawn_node("nats-server", &conf, port, free_port(), store, dir)
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and
    /// store, as a crash and restart would.
    pub async fn restart(&mut self) {
        self.proc.kill9();
        self.proc = Self::spawn(self.port, &self.store, &self.dir);
        wait_node("nats-server", &self.url).await;
    }

    /// `NATS_USER` and `NATS_PASSWORD` for a binary started as `role`.
    pub fn creds(&self, role: Role) -> [(&'static str, &'static str); 2] {
        creds(role)
    }

    /// Gives worker `id` its own user on the running server: renders
    /// `nats.conf` with it, reloads the server (SIGHUP) and waits until the
    /// worker can log in. Adding a worker twice changes nothing.
    pub async fn add_worker(&self, id: &str) -> WorkerIdentity {
        let identity = WorkerIdentity::new(id);
        if self
            .workers
            .add(&identity, |all| Self::render(&self.dir, all))
        {
            reload_node(&self.proc, &self.url, &identity).await;
        }
        identity
    }

    /// A client logged in as worker `id` (added first), held to that
    /// worker's permissions.
    pub async fn worker_client(&self, id: &str) -> async_nats::Client {
        let identity = self.add_worker(id).await;
        identity
            .options()
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to nats-server as worker {id}: {e}"))
    }

    /// A client logged in as the operator, who may publish and subscribe
    /// anything.
    pub async fn client(&self) -> async_nats::Client {
        self.client_as(Role::Operator).await
    }

    /// A client logged in as `role`, held to that role's permissions.
    pub async fn client_as(&self, role: Role) -> async_nats::Client {
        connect(role, std::slice::from_ref(&self.url)).await
    }

    /// A control client logged in as the operator.
    pub async fn control(&self) -> crate::Control {
        crate::Control::new(&self.client().await)
    }
}
