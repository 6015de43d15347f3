//! `GET /healthz` over loopback.

use std::time::Duration;

use std::io::Read;

use crate::contract::{HEALTH_PATH, HealthDoc, MAX_HEALTH_BYTES};

/// A small blocking HTTP client for the backend's loopback origin.
#[derive(Debug, Clone)]
pub struct HealthClient {
    http: reqwest::blocking::Client,
}

impl HealthClient {
    pub fn new() -> Self {
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("a plain-HTTP client always builds");
        HealthClient { http }
    }

    /// One request with `timeout`. A response that is not 200 with the
    /// contract's JSON is an error.
    pub fn check(&self, port: u16, timeout: Duration) -> Result<HealthDoc, HealthError> {
        let url = format!("http://127.0.0.1:{port}{HEALTH_PATH}");
        let response = self.http.get(&url).timeout(timeout).send().map_err(|e| HealthError::Request(e.to_string()))?;
        let status = response.status();
        let mut body = Vec::new();
        response.take(MAX_HEALTH_BYTES + 1).read_to_end(&mut body).map_err(|e| HealthError::Request(e.to_string()))?;
        if body.len() as u64 > MAX_HEALTH_BYTES {
            return Err(HealthError::Malformed(format!("the body is over {MAX_HEALTH_BYTES} bytes")));
        }
        if !status.is_success() {
            return Err(HealthError::Status(
                status.as_u16(),
                String::from_utf8_lossy(&body).chars().take(200).collect(),
            ));
        }
        serde_json::from_slice(&body).map_err(|e| HealthError::Malformed(e.to_string()))
    }

    /// Confirms health once, retrying a failed request up to `attempts` times
    /// with a doubling pause (10 ms, 20 ms, …) and never past `budget`.
    pub fn confirm(&self, port: u16, attempts: u32, budget: Duration) -> Result<HealthDoc, HealthError> {
        let deadline = std::time::Instant::now() + budget;
        let mut pause = Duration::from_millis(10);
        let mut last = HealthError::Request("no attempt made".into());
        for attempt in 1..=attempts.max(1) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.check(port, left.min(Duration::from_secs(5))) {
                Ok(doc) => return Ok(doc),
                Err(e) => last = e,
            }
            if attempt < attempts {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(std::time::Instant::now())));
                pause *= 2;
            }
        }
        Err(last)
    }
}

impl Default for HealthClient {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum HealthError {
    #[error("GET /healthz failed: {0}")]
    Request(String),
    #[error("GET /healthz answered HTTP {0}: {1}")]
    Status(u16, String),
    #[error("GET /healthz did not return the contract's JSON: {0}")]
    Malformed(String),
}
