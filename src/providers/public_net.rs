//! Downloads from a URL a caller chose must stay on the public internet: otherwise anyone who
//! may start the pipeline could make the server fetch from its own network (a cloud
//! metadata address, an admin port) and read the answer back in an error message. Names
//! are checked where they are resolved, at connect time, so a name that resolves one way
//! when checked and another when used gains nothing; literal addresses, which skip
//! resolution, are checked on the URL and on every redirect.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Whether `ip` is reachable on the public internet (not loopback, private, link-local,
/// shared, reserved or multicast space).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            let nat64 = v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            if nat64 {
                let [.., a, b, c, d] = v6.octets();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00 // unique local
                || first & 0xffc0 == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240)
}

/// Why a URL may not be fetched, when its host is an address (or `localhost`) off the
/// public internet; names are left to [`PublicOnly`].
pub fn refusal(url: &Url) -> Option<String> {
    let private = match url.host() {
        Some(Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        // No host is no network either (http and https URLs always have one).
        None => false,
    };
    private.then(|| {
        format!(
            "{} is not a public address",
            url.host_str().unwrap_or("the URL")
        )
    })
}

/// Why a request was kept off a private network: a name resolving to no public address, or
/// a redirect to a private one.
#[derive(Debug)]
struct KeptOut(String);

impl std::fmt::Display for KeptOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeptOut {}

/// Resolves names as the system does, keeping only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if public.is_empty() {
                let why = format!("{host} resolves to no public address");
                return Err(Box::new(KeptOut(why)) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// `builder` made to reach public addresses only: names through [`PublicOnly`], and no
/// redirect to a private literal address.
pub fn restrict(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
        .dns_resolver(Arc::new(PublicOnly))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else if let Some(why) = refusal(attempt.url()) {
                attempt.error(KeptOut(format!("redirected to a private address: {why}")))
            } else {
                attempt.follow()
            }
        }))
}

/// The reason a request failed, when it failed because it was kept off a private network.
pub fn kept_out(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(current) = source {
        if let Some(KeptOut(why)) = current.downcast_ref::<KeptOut>() {
            return Some(why.clone());
        }
        source = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_mapped_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_naming_a_private_address_or_localhost_are_refused() {
        for url in [
            "http://127.0.0.1:5432/",
            "http://[::1]/a.mp3",
            "http://localhost/a.mp3",
            "http://api.localhost./a.mp3",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            assert!(refusal(&Url::parse(url).unwrap()).is_some(), "{url}");
        }
        assert_eq!(
            refusal(&Url::parse("https://cdn.example.com/a.mp3").unwrap()),
            None
        );
    }

    /// Why a restricted client's GET of `url` was kept out, if it was.
    async fn kept_out_of(url: &str) -> Option<String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = restrict(reqwest::Client::builder()).build().unwrap();
        let err = client.get(url).send().await.unwrap_err();
        kept_out(&err)
    }

    #[tokio::test]
    async fn a_redirect_to_a_private_address_is_not_followed() {
        // A server answering every request with a redirect into a private network.
        let router = axum::Router::new().fallback(|| async {
            axum::response::Redirect::temporary("http://10.0.0.1/latest/meta-data/")
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });

        assert_eq!(
            kept_out_of(&format!("http://{addr}/a.mp3"))
                .await
                .as_deref(),
            Some("redirected to a private address: 10.0.0.1 is not a public address")
        );
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_private_addresses_is_not_connected_to() {
        // Resolved by the system (the hosts file), so no network is needed.
        assert_eq!(
            kept_out_of("http://localhost:9/a.mp3").await.as_deref(),
            Some("localhost resolves to no public address")
        );
    }
}
