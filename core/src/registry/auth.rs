//! Registry authentication: answering `WWW-Authenticate` challenges with Basic credentials or a
//! bearer token from the registry's token service, cached per access scope and refreshed on 401.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;

use super::credentials::{self, CredentialOptions, Lookup, Secret};
use super::log::Log;
use super::RegistryError;

/// The access a request needs: pull (and maybe push) on a repository, plus pull on the
/// repository a blob is mounted from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub repository: String,
    pub push: bool,
    pub mount_from: Option<String>,
}

impl Scope {
    pub fn pull(repository: &str) -> Self {
        Self { repository: repository.to_owned(), push: false, mount_from: None }
    }

    pub fn push(repository: &str) -> Self {
        Self { repository: repository.to_owned(), push: true, mount_from: None }
    }

    /// The token-service scopes, e.g. `repository:app:pull,push`.
    pub fn token_scopes(&self) -> Vec<String> {
        let actions = if self.push { "pull,push" } else { "pull" };
        let mut scopes = vec![format!("repository:{}:{actions}", self.repository)];
        if let Some(from) = &self.mount_from {
            scopes.push(format!("repository:{from}:pull"));
        }
        scopes
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

impl Challenge {
    /// Parses `Basic realm="x"` or `Bearer realm="…",service="…",scope="…"`.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
        let params = parse_params(rest);
        let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        if scheme.eq_ignore_ascii_case("basic") {
            Some(Challenge::Basic)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Some(Challenge::Bearer { realm: get("realm")?, service: get("service"), scope: get("scope") })
        } else {
            None
        }
    }
}

/// `k="v", k2=v2` with quoted strings that may hold commas and escapes.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.trim().is_empty() || chars.next() != Some('=') {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        params.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

/// How a registry wants to be authenticated, as learnt from its first challenge.
#[derive(Debug, Clone)]
enum Scheme {
    Basic(HeaderValue),
    Bearer { tokens: HashMap<Vec<String>, HeaderValue> },
}

/// The authentication state of one registry host.
pub struct Authenticator {
    host: String,
    base_url: String,
    options: CredentialOptions,
    http: reqwest::Client,
    log: Log,
    lookup: tokio::sync::OnceCell<Lookup>,
    scheme: Mutex<Option<Scheme>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Authenticator {
    pub fn new(host: &str, base_url: &str, options: CredentialOptions, http: reqwest::Client, log: Log) -> Self {
        Self {
            host: host.to_owned(),
            base_url: base_url.to_owned(),
            options,
            http,
            log,
            lookup: tokio::sync::OnceCell::new(),
            scheme: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The `Authorization` header for a request needing `scope`, if one is known.
    pub fn header(&self, scope: &Scope) -> Option<HeaderValue> {
        match &*self.scheme.lock().expect("auth state lock") {
            Some(Scheme::Basic(value)) => Some(value.clone()),
            Some(Scheme::Bearer { tokens }) => tokens.get(&scope.token_scopes()).cloned(),
            None => None,
        }
    }

    /// Credentials are looked up once, and only when a registry asks for them.
    async fn lookup(&self) -> &Lookup {
        self.lookup.get_or_init(|| credentials::lookup(&self.host, &self.base_url, &self.options)).await
    }

    /// Answers a 401: learns the challenge, gets a token (or Basic credentials) for `scope`.
    /// `used` is the header the rejected request carried: if another task has refreshed since,
    /// its result is used instead of asking the token service again.
    pub async fn refresh(
        &self,
        what: &str,
        url: &str,
        challenge: Option<&str>,
        scope: &Scope,
        used: Option<&HeaderValue>,
    ) -> Result<(), RegistryError> {
        let _one_at_a_time = self.refreshing.lock().await;
        if self.header(scope).as_ref() != used {
            return Ok(());
        }
        let parsed = challenge.and_then(Challenge::parse).ok_or_else(|| RegistryError::BadChallenge {
            what: what.to_owned(),
            url: url.to_owned(),
            challenge: challenge.unwrap_or("none").to_owned(),
        })?;
        let lookup = self.lookup().await;
        match parsed {
            Challenge::Basic => {
                let Some(credential) = &lookup.credential else { return Err(self.no_credentials(what, lookup)) };
                if used.is_some() {
                    return Err(self.rejected(what, 401));
                }
                let value = sensitive(&credential.secret.header_value())?;
                *self.scheme.lock().expect("auth state lock") = Some(Scheme::Basic(value));
            }
            Challenge::Bearer { realm, service, scope: asked } => {
                let token = match lookup.credential.as_ref().map(|c| &c.secret) {
                    // A ready token (registry token, or a Bazel helper's Bearer header) is used as it is.
                    Some(Secret::Bearer(token)) if used.is_none() => token.clone(),
                    Some(Secret::Bearer(_)) => return Err(self.rejected(what, 401)),
                    basic => {
                        let mut scopes = scope.token_scopes();
                        scopes.extend(asked.iter().flat_map(|s| s.split(' ')).map(str::to_owned));
                        scopes.dedup();
                        self.fetch_token(what, &realm, service.as_deref(), &scopes, basic, lookup).await?
                    }
                };
                let value = sensitive(&format!("Bearer {token}"))?;
                let mut state = self.scheme.lock().expect("auth state lock");
                match &mut *state {
                    Some(Scheme::Bearer { tokens }) => {
                        tokens.insert(scope.token_scopes(), value);
                    }
                    other => *other = Some(Scheme::Bearer { tokens: HashMap::from([(scope.token_scopes(), value)]) }),
                }
            }
        }
        Ok(())
    }

    async fn fetch_token(
        &self,
        what: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        credential: Option<&Secret>,
        lookup: &Lookup,
    ) -> Result<String, RegistryError> {
        let token_error = |detail: String| RegistryError::Token {
            what: what.to_owned(),
            registry: self.host.clone(),
            realm: realm.to_owned(),
            detail,
        };
        let mut url =
            reqwest::Url::parse(realm).map_err(|err| token_error(format!("an unusable realm URL ({err})")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url.clone());
        if let Some(secret @ Secret::Basic { .. }) = credential {
            request = request.header(AUTHORIZATION, sensitive(&secret.header_value())?);
        }
        let request = request.build().map_err(|err| RegistryError::transport(what, url.as_str(), &err))?;
        self.log.request(&request);
        let response =
            self.http.execute(request).await.map_err(|err| RegistryError::transport(what, url.as_str(), &err))?;
        self.log.response(&response);
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(match credential {
                Some(_) => self.rejected(what, status.as_u16()),
                None => self.no_credentials(what, lookup),
            });
        }
        if !status.is_success() {
            return Err(token_error(format!("HTTP {status}")));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer =
            response.json().await.map_err(|err| token_error(format!("a body that is not a token answer ({err})")))?;
        answer.token.or(answer.access_token).filter(|t| !t.is_empty()).ok_or_else(|| token_error("no token".to_owned()))
    }

    /// The error for a second 401 on the same request: credentials we had were not accepted, or
    /// we had none.
    pub async fn unauthorized(&self, what: &str, status: u16) -> RegistryError {
        let lookup = self.lookup().await;
        match &lookup.credential {
            Some(_) => self.rejected(what, status),
            None => self.no_credentials(what, lookup),
        }
    }

    fn no_credentials(&self, what: &str, lookup: &Lookup) -> RegistryError {
        RegistryError::NoCredentials {
            what: what.to_owned(),
            registry: self.host.clone(),
            looked: lookup.looked.join("; "),
        }
    }

    fn rejected(&self, what: &str, status: u16) -> RegistryError {
        let origin =
            self.lookup.get().and_then(|l| l.credential.as_ref()).map_or("nowhere".to_owned(), |c| c.origin.clone());
        RegistryError::CredentialsRejected { what: what.to_owned(), registry: self.host.clone(), origin, status }
    }
}

/// A header value marked sensitive, so that no `Debug` output of hyper or reqwest shows it.
fn sensitive(value: &str) -> Result<HeaderValue, RegistryError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        RegistryError::Usage("a credential contains characters that cannot go into an HTTP header".into())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let header =
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#;
        assert_eq!(
            Challenge::parse(header),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(Challenge::parse("Bearer service=x"), None, "a bearer challenge needs a realm");
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn scopes_name_the_mount_source() {
        let mut scope = Scope::push("app");
        scope.mount_from = Some("base".into());
        assert_eq!(scope.token_scopes(), ["repository:app:pull,push", "repository:base:pull"]);
        assert_eq!(Scope::pull("x").token_scopes(), ["repository:x:pull"]);
    }
}
