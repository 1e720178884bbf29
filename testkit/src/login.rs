//! Who logs in to the test servers, and how: the roles of `nats.conf`
//! with their fixed test passwords ([`Role`], [`creds`] for a binary's
//! environment, [`options`] for a client), a worker's own user
//! ([`WorkerIdentity`]), and [`connect`], the one way the harness logs a
//! client in to a single server or a cluster.

/// The NATS users of `nats.conf` with one user per role. Workers have a
/// user each: see [`crate::NatsServer::add_worker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Coordinator,
    Dashboard,
    Operator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Coordinator, Role::Dashboard, Role::Operator];

    /// The user name in `nats.conf`, also the role's inbox prefix token.
    pub fn user(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Dashboard => "dashboard",
            Role::Operator => "operator",
        }
    }

    /// The password every test server gives this role.
    pub fn password(self) -> &'static str {
        match self {
            Role::Coordinator => "test-coordinator-secret",
            Role::Dashboard => "test-dashboard-secret",
            Role::Operator => "test-operator-secret",
        }
    }

    /// The variable `nats.conf` reads this role's password from.
    pub fn password_var(self) -> &'static str {
        match self {
            Role::Coordinator => "IGENTAI_COORDINATOR_PASSWORD",
            Role::Dashboard => "IGENTAI_DASHBOARD_PASSWORD",
            Role::Operator => "IGENTAI_OPERATOR_PASSWORD",
        }
    }
}

/// `NATS_USER` and `NATS_PASSWORD` for a binary started as `role`, to put in
/// its environment: `let [user, password] = creds(Role::Coordinator);`.
pub fn creds(role: Role) -> [(&'static str, &'static str); 2] {
    [
        ("NATS_USER", role.user()),
        ("NATS_PASSWORD", role.password()),
    ]
}

/// Connect options logging in as `role`, with the role's inbox prefix, as
/// the binaries' own clients do.
pub fn options(role: Role) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::with_user_and_password(
        role.user().to_string(),
        role.password().to_string(),
    )
    .custom_inbox_prefix(igentai_protocol::subjects::inbox_prefix(role.user()))
}

/// One worker's own NATS user, as `scripts/add-worker.sh` creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIdentity {
    pub id: String,
    pub user: String,
    pub password: String,
}

impl WorkerIdentity {
    /// The identity every test server gives worker `id`.
    pub fn new(id: &str) -> WorkerIdentity {
        WorkerIdentity {
            id: id.to_string(),
            user: format!("worker-{id}"),
            password: format!("test-worker-{id}-secret"),
        }
    }

    /// `NATS_USER` and `NATS_PASSWORD` for the worker binary's environment.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("NATS_USER", self.user.as_str()),
            ("NATS_PASSWORD", self.password.as_str()),
        ]
    }

    /// Connect options logging in as this worker, with its inbox prefix, as
    /// the worker binary's own client does.
    pub fn options(&self) -> async_nats::ConnectOptions {
        async_nats::ConnectOptions::with_user_and_password(self.user.clone(), self.password.clone())
            .custom_inbox_prefix(igentai_protocol::subjects::worker_inbox_prefix(&self.id))
    }
}
/// A client logged in as `role` to `urls` (one server's URL, or a
/// cluster's), held to that role's permissions.
pub async fn connect(role: Role, urls: &[String]) -> async_nats::Client {
    options(role)
        .connect(urls)
        .await
        .unwrap_or_else(|e| panic!("connect to {urls:?} as {}: {e}", role.user()))
}

/// Waits (bounded) until `who` may log in on the server at `url`: it
/// accepts clients, or (after a reload) knows a new user.
pub async fn wait_login(what: &str, url: &str, who: impl Fn() -> async_nats::ConnectOptions) {
    crate::wait_for(what, std::time::Duration::from_secs(20), || {
        let options = who();
        async move { options.connect(url).await.ok().map(|_| ()) }
    })
    .await;
}
