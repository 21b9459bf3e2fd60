//! Names on the registry side: hosts, repositories, tags and digests, and which hosts may be
//! spoken to over plain HTTP.

use std::net::IpAddr;

/// A name that the distribution spec does not allow.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("`{0}` is not a valid repository name (lowercase path components of [a-z0-9] separated by `.`, `_`, `__` or dashes, joined by `/`)")]
    Repository(String),
    #[error("`{0}` is not a valid tag (up to 128 characters of [A-Za-z0-9_.-], not starting with `.` or `-`)")]
    Tag(String),
    #[error("`{0}` is not a sha256 digest (`sha256:` followed by 64 lowercase hex digits)")]
    Digest(String),
    #[error("`{0}` is not a registry host (`host` or `host:port`, no scheme or path)")]
    Host(String),
}

/// Checks a repository name against the distribution spec's grammar.
pub fn check_repository(name: &str) -> Result<(), NameError> {
    let component_ok = |component: &str| {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return false;
        }
        // Separators: `.`, `_`, `__` or any run of `-`; never two different ones in a row.
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b if alnum(b) => i += 1,
                b'.' => {
                    i += 1;
                    if !alnum(bytes[i]) {
                        return false;
                    }
                }
                b'_' => {
                    i += if bytes[i + 1] == b'_' { 2 } else { 1 };
                    if !alnum(bytes[i]) {
                        return false;
                    }
                }
                b'-' => {
                    while bytes[i] == b'-' {
                        i += 1;
                    }
                    if !alnum(bytes[i]) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        true
    };
    if name.len() <= 255 && name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(NameError::Repository(name.to_owned()))
    }
}

/// Checks a tag against the distribution spec's grammar.
pub fn check_tag(tag: &str) -> Result<(), NameError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NameError::Tag(tag.to_owned()))
    }
}

/// The hex part of a `sha256:<hex>` digest. Only sha256 is supported: it is what every registry
/// and every rules_img action uses.
pub fn sha256_hex(digest: &str) -> Result<&str, NameError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(hex)
        }
        _ => Err(NameError::Digest(digest.to_owned())),
    }
}

/// Checks a registry host (`host`, `host:port` or `[v6]:port`).
pub fn check_host(host: &str) -> Result<(), NameError> {
    let bad = host.is_empty()
        || host.contains("://")
        || host.contains('/')
        || host.chars().any(|c| c.is_whitespace() || c == '@' || c == '?' || c == '#');
    if bad {
        Err(NameError::Host(host.to_owned()))
    } else {
        Ok(())
    }
}

/// The host without its port (`[::1]:5000` gives `::1`).
pub fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// Loopback hosts are the only ones spoken to over plain HTTP without `--insecure`: traffic to
/// them never leaves the machine.
pub fn is_loopback(host: &str) -> bool {
    let name = host_without_port(host);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `http` for loopback hosts or when insecure registries are allowed, `https` otherwise.
pub fn scheme(host: &str, insecure: bool) -> &'static str {
    if insecure || is_loopback(host) {
        "http"
    } else {
        "https"
    }
}

/// The canonical name of a registry for comparisons and credential lookups: Docker Hub has three
/// names, and a stored key may carry a scheme or a path (`https://index.docker.io/v1/`).
pub fn canonical_host(host: &str) -> String {
    let host = host.trim();
    let host = host.strip_prefix("https://").or_else(|| host.strip_prefix("http://")).unwrap_or(host);
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io".to_owned(),
        _ => host,
    }
}

/// Docker Hub's API endpoint differs from its name.
pub fn api_host(host: &str) -> String {
    match canonical_host(host).as_str() {
        "index.docker.io" => "registry-1.docker.io".to_owned(),
        _ => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_distribution_grammar() {
        for ok in ["a", "library/ubuntu", "a-b/c__d/e.f", "a--b", "x0/y1/z2"] {
            assert!(check_repository(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a/", "/a", "a//b", "a_", "a.-b", "a___b", "-a", "a b", "a:b"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_and_digests_are_checked() {
        assert!(check_tag("v1.2_3-x").is_ok());
        assert!(check_tag(".x").is_err() && check_tag("").is_err() && check_tag("a/b").is_err());
        let hex = "a".repeat(64);
        assert_eq!(sha256_hex(&format!("sha256:{hex}")).unwrap(), hex);
        assert!(sha256_hex("sha256:ABC").is_err() && sha256_hex("sha512:aa").is_err());
    }

    #[test]
    fn only_loopback_hosts_get_plain_http() {
        for host in ["127.0.0.1:5000", "127.1.2.3", "localhost:80", "[::1]:5000", "::1", "LOCALHOST"] {
            assert!(is_loopback(host), "{host}");
            assert_eq!(scheme(host, false), "http");
        }
        for host in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com", "128.0.0.1"] {
            assert!(!is_loopback(host), "{host}");
            assert_eq!(scheme(host, false), "https");
        }
        assert_eq!(scheme("ghcr.io", true), "http");
    }

    #[test]
    fn docker_hub_names_are_one_registry() {
        assert_eq!(canonical_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(canonical_host("docker.io"), "index.docker.io");
        assert_eq!(canonical_host("http://Example.com:5000/"), "example.com:5000");
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
