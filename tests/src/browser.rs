//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: the console
//! page's tests load it, click its buttons, read its DOM and take screenshots, the way a
//! person in a browser or an OBS dock would. One page per browser; the profile is private.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Browser {
    child: Child,
    socket: Socket,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// The browser binary: `CHROMIUM` or `chromium` on PATH.
pub fn chromium() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(path.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// Starts a headless browser with a `width` × `height` window and attaches to its page.
    pub async fn launch(width: u32, height: u32) -> Result<Self> {
        let binary = chromium().context("chromium is not installed (scripts/install-deps.sh)")?;
        let profile = tempfile::tempdir()?;
        let port = crate::free_port()?;
        let child = Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                "--lang=zh-CN",
            ])
            .arg(format!("--remote-debugging-port={port}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromium")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let page_url = loop {
            if let Ok(list) = http_get(&format!("127.0.0.1:{port}"), "/json/list", None).await {
                let pages: Value = serde_json::from_str(&list.1).unwrap_or(Value::Null);
                let page = pages.as_array().and_then(|all| {
                    all.iter()
                        .find(|p| p["type"] == "page")
                        .and_then(|p| p["webSocketDebuggerUrl"].as_str())
                        .map(str::to_string)
                });
                if let Some(url) = page {
                    break url;
                }
            }
            if Instant::now() > deadline {
                bail!("chromium's DevTools did not come up on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let (socket, _) = tokio_tungstenite::connect_async(page_url.as_str())
            .await
            .context("attaching to chromium's page")?;
        let mut browser = Self {
            child,
            socket,
            next_id: 1,
            _profile: profile,
        };
        browser.call("Page.enable", json!({})).await?;
        browser.call("Runtime.enable", json!({})).await?;
        Ok(browser)
    }

    /// One DevTools command; its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params});
        self.socket.send(Message::text(msg.to_string())).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .with_context(|| format!("{method}: no answer from chromium"))?;
            let Some(frame) = next else {
                bail!("chromium closed the DevTools connection");
            };
            let Message::Text(text) = frame? else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text)?;
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                bail!("{method}: {error}");
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Opens `url` and waits until the document has loaded.
    pub async fn open(&mut self, url: &str) -> Result<()> {
        self.call("Page.navigate", json!({ "url": url })).await?;
        self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            Duration::from_secs(15),
        )
        .await
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Result<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("page script failed: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Waits until `condition` (JavaScript) is true in the page.
    pub async fn wait_for(&mut self, condition: &str, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if self.eval(&format!("!!({condition})")).await? == Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the page never met `{condition}` within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resizes the viewport (a dock's narrow width, a desktop window).
    pub async fn resize(&mut self, width: u32, height: u32) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await?;
        Ok(())
    }

    /// Saves a PNG screenshot of the viewport to `path`; returns its size in bytes.
    pub async fn screenshot(&mut self, path: &Path) -> Result<usize> {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let data = shot["data"].as_str().context("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &png)?;
        Ok(png.len())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET on loopback (`Connection: close`); returns the status and the body.
/// Enough for the console's JSON and Prometheus text, and for DevTools' target list.
pub async fn http_get(addr: &str, path: &str, bearer: Option<&str>) -> Result<(u16, String)> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .context("connect timed out")??;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP answer: {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if let Some(n) = lower.strip_prefix("content-length:") {
            length = n.trim().parse::<usize>().ok();
        }
    }
    // DevTools keeps the connection open whatever `Connection` says: read what the length
    // says, else to the end.
    let mut body = Vec::new();
    let read = async {
        match length {
            Some(n) => {
                body.resize(n, 0);
                reader.read_exact(&mut body).await.map(|_| ())
            }
            None => reader.read_to_end(&mut body).await.map(|_| ()),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .context("body timed out")??;
    let body = if chunked { dechunk(&body) } else { body };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        let stop = (start + size).min(raw.len());
        out.extend_from_slice(&raw[start..stop]);
        raw = raw.get(stop + 2..).unwrap_or(&[]);
    }
    out
}
