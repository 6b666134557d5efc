//! Source allowlists (`push_allow`, `pull_allow`): which source addresses
//! the relay listens to on each socket. The legacy protocol has no pull
//! credential, so an allowlist is the only way to say who may watch.

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::IpAddr;

/// The most entries one allowlist may have: the check is a linear scan on
/// every datagram, and a few hundred networks cover any sane deployment.
pub const MAX_ALLOW_ENTRIES: usize = 256;

/// One allowlist entry: a CIDR network (`10.0.0.0/8`, `2001:db8::/32`) or
/// a bare address (`192.0.2.7`, a /32 or /128). An IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) is kept as the IPv4 network it maps, so it and
/// a plain IPv4 entry match the same sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(IpNet);

/// Why text is not an allowlist entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCidr(pub String);

impl std::fmt::Display for InvalidCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a CIDR network or IP address: {:?}", self.0)
    }
}

impl std::error::Error for InvalidCidr {}

impl Cidr {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 `ip` as its
    /// IPv4 address: pass it through [`canonical`]).
    fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

impl std::str::FromStr for Cidr {
    type Err = InvalidCidr;

    fn from_str(text: &str) -> Result<Self, InvalidCidr> {
        let t = text.trim();
        let net = match t.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => IpNet::from(t.parse::<IpAddr>().map_err(|_| InvalidCidr(text.to_owned()))?),
        };
        // Host bits are cleared: 10.1.2.3/8 means 10.0.0.0/8.
        let net = net.trunc();
        let net = match net {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => {
                    IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).map_err(|_| InvalidCidr(text.to_owned()))?)
                }
                None => net,
            },
            _ => net,
        };
        Ok(Cidr(net))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A list of source networks; empty admits every source (the legacy
/// behaviour).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    /// Whether the list admits every source.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Its entries.
    #[must_use]
    pub fn entries(&self) -> &[Cidr] {
        &self.0
    }

    /// Whether `ip` may send: the list is empty or an entry contains it.
    /// An IPv4-mapped IPv6 source (a dual-stack socket's view of an IPv4
    /// peer) is matched as the IPv4 address it is.
    #[inline]
    #[must_use]
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || {
            let ip = canonical(ip);
            self.0.iter().any(|net| net.contains(ip))
        }
    }
}

impl FromIterator<Cidr> for AllowList {
    fn from_iter<I: IntoIterator<Item = Cidr>>(iter: I) -> Self {
        AllowList(iter.into_iter().collect())
    }
}

/// `ip`, with an IPv4-mapped IPv6 address turned into its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        entries.iter().map(|e| e.parse::<Cidr>().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_empty_list_admits_everyone() {
        let l = AllowList::default();
        assert!(l.admits(ip("192.0.2.1")) && l.admits(ip("2001:db8::1")) && l.admits(ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn ipv4_networks_and_bare_addresses() {
        let l = list(&["10.0.0.0/8", "192.0.2.7"]);
        assert!(l.admits(ip("10.0.0.0")) && l.admits(ip("10.255.255.255")));
        assert!(!l.admits(ip("11.0.0.0")) && !l.admits(ip("9.255.255.255")));
        assert!(l.admits(ip("192.0.2.7")));
        assert!(!l.admits(ip("192.0.2.6")) && !l.admits(ip("192.0.2.8")));
        assert!(!l.admits(ip("2001:db8::1")), "an IPv4 list admits no IPv6 source");
    }

    #[test]
    fn ipv6_networks_and_bare_addresses() {
        let l = list(&["2001:db8::/32", "fe80::1"]);
        assert!(l.admits(ip("2001:db8:ffff::1")) && l.admits(ip("fe80::1")));
        assert!(!l.admits(ip("2001:db9::1")) && !l.admits(ip("fe80::2")));
        assert!(!l.admits(ip("10.0.0.1")));
    }

    #[test]
    fn ipv4_mapped_sources_match_ipv4_entries() {
        let l = list(&["10.0.0.0/8"]);
        assert!(l.admits(ip("::ffff:10.1.2.3")));
        assert!(!l.admits(ip("::ffff:11.1.2.3")));
        // A mapped entry is the IPv4 network it maps.
        let mapped = list(&["::ffff:10.0.0.0/104"]);
        assert_eq!(mapped, list(&["10.0.0.0/8"]));
        assert!(mapped.admits(ip("10.9.9.9")) && mapped.admits(ip("::ffff:10.9.9.9")));
        assert!(!list(&["::/0"]).admits(ip("10.0.0.1")), "::/0 is every IPv6 source, not IPv4 ones");
    }

    #[test]
    fn prefix_edges() {
        let all4 = list(&["0.0.0.0/0"]);
        assert!(all4.admits(ip("0.0.0.0")) && all4.admits(ip("255.255.255.255")) && all4.admits(ip("::ffff:1.2.3.4")));
        assert!(!all4.admits(ip("::1")));
        let one4 = list(&["127.0.0.2/32"]);
        assert!(one4.admits(ip("127.0.0.2")) && !one4.admits(ip("127.0.0.3")) && !one4.admits(ip("127.0.0.1")));
        let all6 = list(&["::/0"]);
        assert!(all6.admits(ip("::")) && all6.admits(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        let one6 = list(&["2001:db8::1/128"]);
        assert!(one6.admits(ip("2001:db8::1")) && !one6.admits(ip("2001:db8::")) && !one6.admits(ip("2001:db8::2")));
        // Host bits are cleared, not refused.
        assert_eq!(list(&["10.1.2.3/8"]), list(&["10.0.0.0/8"]));
    }

    #[test]
    fn bad_entries_are_refused_with_their_text() {
        for bad in ["", "10.0.0/8", "10.0.0.0/33", "2001:db8::/129", "host.example", "10.0.0.0/", "1.2.3.4:80"] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn only_a_list_without_entries_is_empty() {
        assert!(AllowList::default().is_empty());
        assert!(!list(&["10.0.0.0/8"]).is_empty());
    }

    #[test]
    fn entries_round_trip_as_text() {
        let l = list(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]);
        let shown: Vec<String> = l.entries().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
    }
}
