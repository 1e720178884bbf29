//! What lets a topic outlive one host: the items ledger (`ledger`, the
//! `IGENTAI_ITEMS` stream) and `restore` from it, the shared current run
//! (`runs_bucket`), the copies of the streams (`replicas`), and one writer
//! at a time (`ownership`: the folder lock and the NATS lease, decided in
//! `owner`).

pub mod ledger;
pub mod owner;
pub mod ownership;
pub mod replicas;
pub mod restore;
pub mod runs_bucket;
