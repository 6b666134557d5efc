//! The packet side: the two UDP sockets ([`socket`]) and the loop that
//! drives the core with them ([`driver`]), per docs/architecture.md.

pub mod driver;
pub mod socket;

pub use driver::Driver;
pub use socket::UdpEndpoint;
