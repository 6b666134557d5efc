//! The packet side: the two UDP sockets ([`socket`]) and the loop that
//! drives the core with them ([`driver`]), per DESIGN.md §3.

pub mod driver;
pub mod socket;

pub use driver::Driver;
pub use socket::UdpEndpoint;
