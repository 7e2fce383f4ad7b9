//! Where Pulse may send a Web Push message. A subscription's endpoint is a
//! URL the client chooses and the server then calls, so an endpoint on a
//! loopback, private or link-local host would turn the notifier into a way to
//! reach the inside of the network. The command API checks it when a browser
//! subscribes, and the notifier checks it again before each delivery, with
//! [`check_push_endpoint`] and, for the address a name resolved to,
//! [`is_internal_address`]: a public name can resolve to a private address,
//! which no check of the text alone can see.

use crate::input::{self, InvalidInput};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Checks a push endpoint (field `endpoint`): an https URL with a host that
/// is neither an internal address nor an internal name (`localhost`,
/// `*.localhost`, `*.local`, `*.internal`). Returns the trimmed URL.
pub fn check_push_endpoint(raw: &str) -> Result<String, InvalidInput> {
    let url = input::url("endpoint", raw, false)?;
    let host = host_of(&url).ok_or_else(|| InvalidInput::new("endpoint", "must name a host"))?;
    if is_internal_host(&host) {
        return Err(InvalidInput::new("endpoint", "must be a public push service, not a private or local host"));
    }
    Ok(url)
}

/// Whether an address is one Pulse never sends to: unspecified or "this
/// network" (0/8, `::`), loopback (127/8, `::1`), private (10/8, 172.16/12,
/// 192.168/16, fc00::/7), shared address space (100.64/10), link-local
/// (169.254/16, fe80::/10), and the IPv4-mapped and IPv4-compatible forms of
/// the IPv4 ones.
pub fn is_internal_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

/// Whether the notifier may connect to `address` for a push: never to an
/// internal one, except loopback when `allow_loopback` (the documented
/// test/dev setting for a push endpoint on the same machine).
pub fn may_push_to(address: IpAddr, allow_loopback: bool) -> bool {
    !is_internal_address(address) || (allow_loopback && address.is_loopback())
}

fn is_internal_v4(address: Ipv4Addr) -> bool {
    let [a, b, ..] = address.octets();
    a == 0
        || a == 10
        || a == 127
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 168)
        || (a == 169 && b == 254)
        || (a == 100 && (64..=127).contains(&b))
}

fn is_internal_v6(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    if let Some(v4) = address.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    // `::a.b.c.d` (IPv4-compatible, deprecated) still reaches `a.b.c.d` on
    // some stacks; `::` and `::1` are in this range too.
    if address.segments()[..6] == [0; 6] {
        return true;
    }
    (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}

/// The host of an absolute URL as checked by [`input::url`], lowercased,
/// without brackets, port or a trailing dot.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.0,
        None => authority.split(':').next()?,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn is_internal_host(host: &str) -> bool {
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return is_internal_v6(v6);
    }
    if host.contains(':') {
        return true; // an IPv6 literal without brackets, or with a zone: not a URL host
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return is_internal_v4(v4);
    }
    // URL parsers read a host that ends in a number as IPv4 in any of its
    // old spellings (`2130706433`, `0x7f.1`, `127.1`: all 127.0.0.1). Only the
    // dotted quad above is accepted, so no spelling gets past the ranges.
    let last = host.rsplit('.').next().unwrap_or_default();
    let numeric = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last.strip_prefix("0x").is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())));
    if numeric {
        return true;
    }
    let name_is = |suffix: &str| host == suffix || host.ends_with(&format!(".{suffix}"));
    name_is("localhost") || name_is("local") || name_is("internal")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(endpoint: &str, accepted: bool) {
        assert_eq!(check_push_endpoint(endpoint).is_ok(), accepted, "{endpoint}");
    }

    #[test]
    fn only_public_addresses_are_pushed_to_and_loopback_only_when_allowed() {
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let private: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(may_push_to(public, false) && may_push_to(public, true));
        assert!(!may_push_to(loopback, false) && may_push_to(loopback, true));
        assert!(!may_push_to(private, false) && !may_push_to(private, true));
    }

    #[test]
    fn push_endpoints_on_internal_hosts_are_refused() {
        for (endpoint, accepted) in [
            ("https://fcm.googleapis.com/fcm/send/abc", true),
            ("https://updates.push.services.mozilla.com/wpush/v2/x", true),
            ("https://web.push.apple.com:443/QGx", true),
            ("https://8.8.8.8/push", true),
            ("https://172.32.0.1/push", true),
            ("https://100.128.0.1/push", true),
            ("https://[2001:db8::1]/push", true),
            ("https://localhost.example.org/push", true),
            ("http://fcm.googleapis.com/fcm/send/abc", false),
            ("https://127.0.0.1/push", false),
            ("https://127.255.255.254:8443/push", false),
            ("https://10.1.2.3/push", false),
            ("https://172.16.0.1/push", false),
            ("https://172.31.255.255/push", false),
            ("https://192.168.1.1/push", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://100.64.0.1/push", false),
            ("https://100.127.255.255/push", false),
            ("https://0.0.0.0/push", false),
            ("https://[::1]/push", false),
            ("https://[::]/push", false),
            ("https://[fc00::1]/push", false),
            ("https://[fd12:3456::1]/push", false),
            ("https://[fe80::1]/push", false),
            ("https://[febf::1]/push", false),
            ("https://[::ffff:127.0.0.1]/push", false),
            ("https://[::ffff:a9fe:a9fe]/push", false),
            ("https://[::ffff:10.0.0.1]:443/push", false),
            ("https://[::127.0.0.1]/push", false),
            ("https://2130706433/push", false),
            ("https://0x7f.0.0.1/push", false),
            ("https://127.1/push", false),
            ("https://localhost/push", false),
            ("https://LOCALHOST./push", false),
            ("https://push.localhost/push", false),
            ("https://printer.local/push", false),
            ("https://metadata.google.internal/push", false),
            ("https://user@fcm.googleapis.com/push", false),
        ] {
            check(endpoint, accepted);
        }
    }

    #[test]
    fn resolved_addresses_are_judged_by_the_same_ranges() {
        assert!(is_internal_address("10.0.0.1".parse().unwrap()));
        assert!(is_internal_address("::ffff:192.168.0.1".parse().unwrap()));
        assert!(!is_internal_address("142.250.0.1".parse().unwrap()));
        assert!(!is_internal_address("2606:4700::1111".parse().unwrap()));
    }
}
