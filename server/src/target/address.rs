//! What kind of address an IP is, so that the proxy reaches a host the operator did not list only
//! when every address it resolves to is public unicast (no loopback, private or cloud-metadata
//! address can be reached by naming it, or a host that resolves to it, in a URL).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of an IP address, as far as reaching it from the proxy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressKind {
    /// Globally routable unicast: the only kind an unlisted host may resolve to.
    Public,
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, IPv6 site-local and local-use NAT64.
    Private,
    /// `100.64.0.0/10`, shared between a carrier's customers.
    SharedCgnat,
    /// `169.254/16` (cloud metadata services live here), `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18/15`, `2001:2::/48`.
    Benchmarking,
    /// Anything else that is not global unicast: `0/8`, `192.0.0/24`, `240/4`, IETF protocol
    /// assignments, deprecated IPv6 forms.
    Reserved,
}

impl AddressKind {
    pub fn is_public(self) -> bool {
        self == AddressKind::Public
    }
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressKind::Public => "public",
            AddressKind::Unspecified => "unspecified",
            AddressKind::Loopback => "loopback",
            AddressKind::Private => "private",
            AddressKind::SharedCgnat => "carrier-grade NAT",
            AddressKind::LinkLocal => "link-local",
            AddressKind::UniqueLocal => "unique local",
            AddressKind::Multicast => "multicast",
            AddressKind::Broadcast => "broadcast",
            AddressKind::Documentation => "documentation",
            AddressKind::Benchmarking => "benchmarking",
            AddressKind::Reserved => "reserved",
        })
    }
}

/// Classifies `ip`; IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged by
/// the address they embed, since that is where a packet ends up.
pub fn classify(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    match ip.octets() {
        [0, 0, 0, 0] => AddressKind::Unspecified,
        [0, ..] => AddressKind::Reserved,
        [127, ..] => AddressKind::Loopback,
        [10, ..] | [192, 168, ..] => AddressKind::Private,
        [172, b, ..] if (16..=31).contains(&b) => AddressKind::Private,
        [100, b, ..] if (64..=127).contains(&b) => AddressKind::SharedCgnat,
        [169, 254, ..] => AddressKind::LinkLocal,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => AddressKind::Documentation,
        [198, 18 | 19, ..] => AddressKind::Benchmarking,
        // IETF protocol assignments and the deprecated 6to4 relay anycast.
        [192, 0, 0, _] | [192, 88, 99, _] => AddressKind::Reserved,
        [255, 255, 255, 255] => AddressKind::Broadcast,
        [224..=239, ..] => AddressKind::Multicast,
        [240..=255, ..] => AddressKind::Reserved,
        _ => AddressKind::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressKind {
    if ip.is_unspecified() {
        return AddressKind::Unspecified;
    }
    if ip.is_loopback() {
        return AddressKind::Loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        classify_v4(Ipv4Addr::new(a, b, c, d))
    };
    match s {
        // NAT64 well-known prefix: the gateway forwards to the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        [0x64, 0xff9b, 1, ..] => AddressKind::Private,
        // 6to4: the embedded IPv4 address is the other end.
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        // IPv4-compatible (deprecated), discard-only.
        [0, 0, 0, 0, 0, 0, _, _] | [0x100, 0, 0, 0, ..] => AddressKind::Reserved,
        [0x2001, 0xdb8, ..] => AddressKind::Documentation,
        [0x3fff, b, ..] if b < 0x1000 => AddressKind::Documentation,
        [0x2001, 2, 0, ..] => AddressKind::Benchmarking,
        // IETF protocol assignments (Teredo, ORCHID, …): no registry lives there.
        [0x2001, b, ..] if b < 0x200 => AddressKind::Reserved,
        [a, ..] if a & 0xfe00 == 0xfc00 => AddressKind::UniqueLocal,
        [a, ..] if a & 0xffc0 == 0xfe80 => AddressKind::LinkLocal,
        [a, ..] if a & 0xffc0 == 0xfec0 => AddressKind::Private,
        [a, ..] if a & 0xff00 == 0xff00 => AddressKind::Multicast,
        [a, ..] if a & 0xe000 == 0x2000 => AddressKind::Public,
        _ => AddressKind::Reserved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_a_table_of_addresses() {
        let table = [
            ("8.8.8.8", AddressKind::Public),
            ("140.82.112.3", AddressKind::Public),
            ("172.15.255.255", AddressKind::Public),
            ("172.32.0.1", AddressKind::Public),
            ("100.63.255.255", AddressKind::Public),
            ("100.128.0.0", AddressKind::Public),
            ("0.0.0.0", AddressKind::Unspecified),
            ("0.1.2.3", AddressKind::Reserved),
            ("127.0.0.1", AddressKind::Loopback),
            ("127.255.0.9", AddressKind::Loopback),
            ("10.0.0.1", AddressKind::Private),
            ("172.16.0.1", AddressKind::Private),
            ("172.31.255.254", AddressKind::Private),
            ("192.168.1.1", AddressKind::Private),
            ("100.64.0.1", AddressKind::SharedCgnat),
            ("100.127.255.255", AddressKind::SharedCgnat),
            ("169.254.169.254", AddressKind::LinkLocal),
            ("192.0.2.10", AddressKind::Documentation),
            ("198.51.100.1", AddressKind::Documentation),
            ("203.0.113.7", AddressKind::Documentation),
            ("198.18.0.1", AddressKind::Benchmarking),
            ("192.0.0.8", AddressKind::Reserved),
            ("224.0.0.1", AddressKind::Multicast),
            ("239.255.255.250", AddressKind::Multicast),
            ("240.0.0.1", AddressKind::Reserved),
            ("255.255.255.255", AddressKind::Broadcast),
            ("2606:4700:4700::1111", AddressKind::Public),
            ("2a00:1450:4001:82b::200e", AddressKind::Public),
            ("::", AddressKind::Unspecified),
            ("::1", AddressKind::Loopback),
            ("::ffff:127.0.0.1", AddressKind::Loopback),
            ("::ffff:10.1.2.3", AddressKind::Private),
            ("::ffff:169.254.169.254", AddressKind::LinkLocal),
            ("::ffff:8.8.8.8", AddressKind::Public),
            ("::127.0.0.1", AddressKind::Reserved),
            ("64:ff9b::a00:1", AddressKind::Private),
            ("64:ff9b::808:808", AddressKind::Public),
            ("64:ff9b:1::1", AddressKind::Private),
            ("2002:7f00:1::1", AddressKind::Loopback),
            ("2002:808:808::1", AddressKind::Public),
            ("fe80::1", AddressKind::LinkLocal),
            ("febf::1", AddressKind::LinkLocal),
            ("fec0::1", AddressKind::Private),
            ("fc00::1", AddressKind::UniqueLocal),
            ("fd12:3456::1", AddressKind::UniqueLocal),
            ("ff02::1", AddressKind::Multicast),
            ("2001:db8::1", AddressKind::Documentation),
            ("3fff::1", AddressKind::Documentation),
            ("2001:2::1", AddressKind::Benchmarking),
            ("2001::1", AddressKind::Reserved),
            ("100::1", AddressKind::Reserved),
            ("4000::1", AddressKind::Reserved),
        ];
        for (text, expected) in table {
            let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(classify(ip), expected, "{text}");
        }
    }
}
