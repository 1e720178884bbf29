//! The coordinator's commands besides serving: `ctl` (control requests from
//! the terminal, with `watch`'s live status line) and `verify` (checks a
//! topic folder).

pub mod ctl;
pub mod verify;
pub mod watch;
