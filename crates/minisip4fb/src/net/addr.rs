//! Addresses: the Box's `HOST[:PORT]`, the user name it allows, and our
//! own address towards it.

use std::net::{IpAddr, SocketAddr};

use super::*;

/// An IP phone's user name as the Box allows it: `[0-9A-Za-z-._]{1,64}`.
pub fn valid_user(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// `HOST[:PORT]` with IPv6 literals bracketed or bare; port defaults to 5060.
pub fn split_host_port(s: &str) -> Result<(String, u16), PhoneError> {
    let bad = || PhoneError::BadAddress(s.to_owned());
    let s = s.trim().trim_start_matches("sip:");
    if s.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 5060,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((s.to_owned(), 5060));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_owned(), p.parse().map_err(|_| bad())?)),
        None => Ok((s.to_owned(), 5060)),
    }
}

/// The addresses `host` resolves to of the socket's family (IPv4 when
/// `v4`), in the resolver's order; an error when there are none.
pub(super) async fn resolve(
    host: &str,
    port: u16,
    v4: bool,
) -> Result<Vec<SocketAddr>, PhoneError> {
    let failed = |source| PhoneError::Resolve {
        host: host.to_owned(),
        source,
    };
    let all: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(failed)?
        .filter(|a| a.is_ipv4() == v4)
        .collect();
    if all.is_empty() {
        return Err(failed(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no address of a usable family",
        )));
    }
    Ok(all)
}

/// The local address the OS would use towards `dest`. A connected UDP
/// socket sends nothing; it only asks the routing table.
pub(super) fn route_to(dest: SocketAddr) -> Result<IpAddr, PhoneError> {
    let any: SocketAddr = if dest.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("literal");
    let s = std::net::UdpSocket::bind(any)
        .map_err(|source| PhoneError::NoRoute { addr: dest, source })?;
    s.connect(dest)
        .map_err(|source| PhoneError::NoRoute { addr: dest, source })?;
    Ok(s.local_addr()
        .map_err(|source| PhoneError::NoRoute { addr: dest, source })?
        .ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("fritz.box").unwrap(),
            ("fritz.box".into(), 5060)
        );
        assert_eq!(
            split_host_port("127.0.0.1:15060").unwrap(),
            ("127.0.0.1".into(), 15060)
        );
        assert_eq!(split_host_port("[::1]:5070").unwrap(), ("::1".into(), 5070));
        assert_eq!(
            split_host_port("fd00::1").unwrap(),
            ("fd00::1".into(), 5060)
        );
        assert!(split_host_port("host:port").is_err());
        assert!(valid_user("620") && valid_user("Home.Assistant_1-x"));
        assert!(!valid_user("620\r\nX-Evil: 1") && !valid_user("") && !valid_user("a b"));
        assert!(split_host_port("").is_err());
    }

    /// `localhost` often resolves to `::1` first: a socket bound to
    /// 0.0.0.0 gets only what it can reach.
    #[tokio::test]
    async fn a_name_resolves_to_the_sockets_family() {
        let v4 = resolve("localhost", 5060, true).await.unwrap();
        assert!(v4.iter().all(SocketAddr::is_ipv4), "{v4:?}");
        let literal = resolve("127.0.0.1", 5060, false).await;
        assert!(
            literal.is_err(),
            "an IPv4 literal for an IPv6 socket: {literal:?}"
        );
    }

    #[test]
    fn contact_of_an_unspecified_bind_is_the_routed_address() {
        assert_eq!(
            route_to("127.0.0.1:5060".parse().unwrap()).unwrap(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
