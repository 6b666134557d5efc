//! The packet side: the two UDP sockets ([`socket`]), batched sends
//! ([`mmsg`]) and the loop that drives the core with them ([`driver`]),
//! per docs/architecture.md.

pub mod driver;
pub mod mmsg;
mod send;
pub mod socket;

pub use driver::Driver;
pub use socket::UdpEndpoint;
