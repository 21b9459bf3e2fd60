//! Bounded retries with exponential backoff; a registry's `Retry-After` wins over our own delay.

use std::future::Future;
use std::time::Duration;

use super::RegistryError;

/// The longest `Retry-After` we honour: a registry asking for more is treated as asking for this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often and how patiently a failed registry operation is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Delay after the first failure; doubled after each further one.
    pub base_delay: Duration,
    /// Cap of the doubled delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_millis(250), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// The default, overridden by `IMG_REGISTRY_RETRY_MAX_ATTEMPTS`, `IMG_REGISTRY_RETRY_BASE_DELAY`
    /// and `IMG_REGISTRY_RETRY_MAX_DELAY` (durations like `250ms`, `2s`, `1m`).
    pub fn from_env() -> Result<Self, RegistryError> {
        let mut policy = Self::default();
        if let Some(value) = env("IMG_REGISTRY_RETRY_MAX_ATTEMPTS") {
            policy.max_attempts = value
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad_env("IMG_REGISTRY_RETRY_MAX_ATTEMPTS", &value, "a whole number >= 1"))?;
        }
        if let Some(value) = env("IMG_REGISTRY_RETRY_BASE_DELAY") {
            policy.base_delay = parse_duration(&value)
                .ok_or_else(|| bad_env("IMG_REGISTRY_RETRY_BASE_DELAY", &value, "a duration like 250ms or 2s"))?;
        }
        if let Some(value) = env("IMG_REGISTRY_RETRY_MAX_DELAY") {
            policy.max_delay = parse_duration(&value)
                .ok_or_else(|| bad_env("IMG_REGISTRY_RETRY_MAX_DELAY", &value, "a duration like 250ms or 2s"))?;
        }
        Ok(policy)
    }

    /// The pause after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(MAX_RETRY_AFTER);
        }
        let doubled = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        doubled.min(self.max_delay)
    }

    /// Runs `op` until it succeeds, fails for good, or `max_attempts` are used up. Each retry is
    /// announced on stderr (what failed and when the next attempt comes), never silently.
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let mut attempt = 1;
        loop {
            let err = match op().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Some(retry_after) = err.retry_hint() else { return Err(err) };
            if attempt >= self.max_attempts {
                return Err(if attempt == 1 {
                    err
                } else {
                    RegistryError::GaveUp { attempts: attempt, last: Box::new(err) }
                });
            }
            let pause = self.delay(attempt, retry_after);
            eprintln!("img: {what}: {err}; retrying in {pause:?} (attempt {}/{})", attempt + 1, self.max_attempts);
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

fn bad_env(name: &str, value: &str, expected: &str) -> RegistryError {
    RegistryError::Usage(format!("environment variable {name}={value:?} is not {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_retry_after_wins() {
        let policy =
            RetryPolicy { max_attempts: 9, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        assert_eq!(policy.delay(1, None), Duration::from_millis(100));
        assert_eq!(policy.delay(3, None), Duration::from_millis(400));
        assert_eq!(policy.delay(8, None), Duration::from_secs(1));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_and_durations_parse() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), None);
    }

    #[tokio::test]
    async fn transient_failures_are_retried_a_bounded_number_of_times() {
        let policy =
            RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(2) };
        let mut calls = 0;
        let result: Result<(), _> = policy
            .run("test", || {
                calls += 1;
                async {
                    Err(RegistryError::Status {
                        what: "x".into(),
                        url: "u".into(),
                        status: 503,
                        detail: String::new(),
                        retry_after: None,
                    })
                }
            })
            .await;
        assert_eq!(calls, 3);
        assert!(matches!(result, Err(RegistryError::GaveUp { attempts: 3, .. })));
        let mut calls = 0;
        let result: Result<(), _> = policy
            .run("test", || {
                calls += 1;
                async { Err(RegistryError::Usage("final".into())) }
            })
            .await;
        assert_eq!(calls, 1, "a permanent error is not retried");
        assert!(matches!(result, Err(RegistryError::Usage(_))));
    }
}
