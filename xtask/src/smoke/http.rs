//! Plain HTTP requests to the backend's loopback origin, with a chosen
//! `Host` header and cookie, and no redirects followed (the guards are
//! judged by the exact status).

use std::time::Duration;

/// What an answer carried.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub set_cookie: Vec<String>,
    /// The body, cut at 1 MiB.
    pub body: String,
}

pub struct Http {
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn new() -> Http {
        let client = reqwest::blocking::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .expect("a plain-HTTP client always builds");
        Http { client }
    }

    /// `GET http://127.0.0.1:<port><path>`. `host` replaces the `Host`
    /// header. Errors never carry the URL (it may hold the token).
    pub fn get(&self, port: u16, path: &str, host: Option<&str>, cookie: Option<&str>) -> Result<Answer, String> {
        let mut request = self.client.get(format!("http://127.0.0.1:{port}{path}"));
        if let Some(host) = host {
            request = request.header(reqwest::header::HOST, host);
        }
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        self.finish("GET", path, request)
    }

    /// `POST http://127.0.0.1:<port><path>` of a form, with the page's own
    /// origin (as a browser sends it) and the session cookie.
    pub fn post_form(&self, port: u16, path: &str, form: &[(&str, &str)], cookie: &str) -> Result<Answer, String> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = self
            .client
            .post(format!("http://127.0.0.1:{port}{path}"))
            .header(reqwest::header::ORIGIN, format!("http://127.0.0.1:{port}"))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::COOKIE, cookie)
            .body(body);
        self.finish("POST", path, request)
    }

    fn finish(&self, method: &str, path: &str, request: reqwest::blocking::RequestBuilder) -> Result<Answer, String> {
        let shown = path.split('?').next().unwrap_or_default();
        let response = request.send().map_err(|e| format!("{method} {shown}: {}", e.without_url()))?;
        let header = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect()
        };
        let status = response.status().as_u16();
        let content_type: Vec<String> = header(reqwest::header::CONTENT_TYPE);
        let set_cookie = header(reqwest::header::SET_COOKIE);
        let mut body = Vec::new();
        use std::io::Read;
        response
            .take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| format!("{method} {shown}: reading the body: {e}"))?;
        Ok(Answer {
            status,
            content_type: content_type.into_iter().next().unwrap_or_default(),
            set_cookie,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}
