//! The client's address, for per-address rate limits. Behind a reverse proxy
//! every request comes from the proxy, so the address the proxy saw is taken
//! from `Forwarded` (RFC 7239) or `X-Forwarded-For`, but only when the TCP
//! peer is a configured trusted proxy: anyone else can write those headers.
//!
//! Each proxy appends the address it received the request from, so the
//! list is read from the right: the right-most address that is not itself a
//! trusted proxy is the client. Everything left of it was written by the
//! client and could be anything. A header that does not parse, including one
//! naming a hop `unknown` or by an obfuscated name, counts as absent: the
//! peer is the client.

use axum::http::HeaderMap;
use axum::http::header::FORWARDED;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Parses one entry of `PULSE_TRUSTED_PROXIES`: a CIDR (`10.0.0.0/8`,
/// `fd00::/8`) or a single address.
pub fn parse_proxy(raw: &str) -> Result<IpNet, ipnet::AddrParseError> {
    let raw = raw.trim();
    raw.parse::<IpNet>().or_else(|error| raw.parse::<IpAddr>().map(IpNet::from).map_err(|_| error))
}

/// The client's address: the peer's, or when the peer is a trusted proxy,
/// the one its forwarding headers name (see the module documentation).
/// `Forwarded` wins over `X-Forwarded-For` when both are present.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let chain = if headers.contains_key(FORWARDED) {
        chain(headers, FORWARDED.as_str(), forwarded_for)
    } else {
        chain(headers, X_FORWARDED_FOR, address)
    };
    let Some(chain) = chain else { return peer };
    // The right-most untrusted hop; if every hop is trusted, the first one
    // (the request started inside the trusted network).
    chain.iter().rev().find(|ip| !is_trusted(ip)).or(chain.first()).copied().unwrap_or(peer)
}

/// Every comma-separated element of every line of the header, in order,
/// each parsed by `parse`; `None` when any of them does not parse.
fn chain(headers: &HeaderMap, name: &str, parse: fn(&str) -> Option<IpAddr>) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for line in headers.get_all(name) {
        for element in line.to_str().ok()?.split(',') {
            hops.push(parse(element)?);
        }
    }
    Some(hops)
}

/// The `for=` parameter of one `Forwarded` element: `for=192.0.2.60`,
/// `for="[2001:db8::1]:4711"`, `for="192.0.2.60:80"`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then_some(value.trim())
    })?;
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    match value.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').and_then(|(ip, _port)| ip.parse().ok()),
        None => address(value),
    }
}

/// One `X-Forwarded-For` element: an address, or one with a port.
fn address(element: &str) -> Option<IpAddr> {
    let element = element.trim();
    element.parse().ok().or_else(|| element.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    const PEER: &str = "10.0.0.5";

    #[track_caller]
    fn check(peer: &str, headers: &[(&str, &str)], expected: &str) {
        let trusted = [parse_proxy("10.0.0.0/8").unwrap(), parse_proxy("2001:db8:ffff::1").unwrap()];
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        let found = client_ip(peer.parse().unwrap(), &map, &trusted);
        assert_eq!(found, expected.parse::<IpAddr>().unwrap(), "{headers:?} from {peer}");
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop_named_by_a_trusted_peer() {
        check(PEER, &[], PEER);
        check(PEER, &[("x-forwarded-for", "203.0.113.7")], "203.0.113.7");
        check(PEER, &[("x-forwarded-for", "198.51.100.1, 203.0.113.7, 10.1.1.1")], "203.0.113.7");
        check(PEER, &[("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "203.0.113.7")], "203.0.113.7");
        check(PEER, &[("x-forwarded-for", "203.0.113.7:5555")], "203.0.113.7");
        check(PEER, &[("x-forwarded-for", "10.2.2.2, 10.1.1.1")], "10.2.2.2");
        check(PEER, &[("forwarded", "for=203.0.113.7;proto=https")], "203.0.113.7");
        check(PEER, &[("forwarded", r#"for="[2001:db8::7]:4711", for=10.1.1.1"#)], "2001:db8::7");
        check(PEER, &[("forwarded", "For=198.51.100.1, for=203.0.113.7")], "203.0.113.7");
        check(PEER, &[("forwarded", "for=203.0.113.7"), ("x-forwarded-for", "198.51.100.1")], "203.0.113.7");
        check("2001:db8:ffff::1", &[("x-forwarded-for", "203.0.113.7")], "203.0.113.7");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        check("203.0.113.9", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.9");
        check("203.0.113.9", &[("forwarded", "for=198.51.100.1")], "203.0.113.9");
    }

    #[test]
    fn a_malformed_header_counts_as_absent() {
        check(PEER, &[("x-forwarded-for", "not-an-address")], PEER);
        check(PEER, &[("x-forwarded-for", "203.0.113.7, ")], PEER);
        check(PEER, &[("x-forwarded-for", "")], PEER);
        check(PEER, &[("forwarded", "for=unknown")], PEER);
        check(PEER, &[("forwarded", "for=_hidden, for=203.0.113.7")], PEER);
        check(PEER, &[("forwarded", "proto=https")], PEER);
        check(PEER, &[("forwarded", r#"for="[2001:db8::7"#)], PEER);
    }

    #[test]
    fn proxies_are_cidrs_or_single_addresses() {
        assert_eq!(parse_proxy(" 10.0.0.0/8 ").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_proxy("192.0.2.1").unwrap().to_string(), "192.0.2.1/32");
        assert_eq!(parse_proxy("::1").unwrap().to_string(), "::1/128");
        assert!(parse_proxy("10.0.0.0/33").is_err());
        assert!(parse_proxy("proxy.internal").is_err());
    }
}
