//! # rtprelay-sim
//!
//! A deterministic simulation of the rtprelay relay (docs/architecture.md): the
//! real [`rtprelay_core::Relay`] on a virtual clock and a seeded virtual
//! network, with scripted legacy peers, invariants checked after every
//! step, and a report per run. One `u64` seed fixes everything: the relay's
//! randomness, the network's, and the scenario; the same seed replays the
//! same trace, hash included.
//!
//! * [`seed`]: SplitMix64 seed derivation and the simulator's RNG;
//! * [`net`]: per-link loss (uniform, Gilbert-Elliott), delay, jitter,
//!   reordering and duplication;
//! * [`queue`]: the event heap, ordered by `(time, sequence number)`;
//! * [`scenario`]: a run as plain data;
//! * [`peer`]: the scripted publisher and subscribers, the real clients,
//!   and the intruders (forged data, forged NACKs);
//! * [`check`]: the invariants, trust (amplification, verified address
//!   moves, NACK sources) included;
//! * [`sim`]: the step loop; [`report`] and [`trace`]: its outputs.

pub mod check;
pub mod net;
pub mod peer;
pub mod queue;
pub mod report;
pub mod scenario;
pub mod seed;
pub mod sim;
pub mod trace;

pub use check::Invariant;
pub use report::Report;
pub use scenario::{Options, Scenario};
pub use sim::{Sim, Violation, run};
