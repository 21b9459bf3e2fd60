//! The `--verbose` request log. Credentials never appear in it: `Authorization`, cookies and any
//! header marked sensitive are printed as `<redacted>`.

use reqwest::header::HeaderMap;

/// Whether requests are logged to stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log {
    pub verbose: bool,
}

const SECRET_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "set-cookie"];

impl Log {
    pub fn request(&self, request: &reqwest::Request) {
        if self.verbose {
            eprintln!("img: > {} {} {}", request.method(), request.url(), redacted(request.headers()));
        }
    }

    pub fn response(&self, response: &reqwest::Response) {
        if self.verbose {
            eprintln!("img: < {} {} {}", response.status(), response.url(), redacted(response.headers()));
        }
    }
}

/// `name: value` pairs with every secret replaced.
pub fn redacted(headers: &HeaderMap) -> String {
    let shown: Vec<String> = headers
        .iter()
        .map(|(name, value)| {
            let secret = value.is_sensitive() || SECRET_HEADERS.contains(&name.as_str());
            let value =
                if secret { "<redacted>".into() } else { String::from_utf8_lossy(value.as_bytes()).into_owned() };
            format!("{name}: {value}")
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};

    #[test]
    fn authorization_is_never_shown() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpodW50ZXIy"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut token = HeaderValue::from_static("s3cret");
        token.set_sensitive(true);
        headers.insert("x-registry-token", token);
        let shown = redacted(&headers);
        assert!(!shown.contains("dXNlcjpodW50ZXIy") && !shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("authorization: <redacted>") && shown.contains("content-type: application/json"));
    }
}
