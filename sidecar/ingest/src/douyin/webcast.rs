//! Finding the room and building the push URL.
//!
//! A room is addressed by its *web id* (`live.douyin.com/<web_rid>`), but the push server wants
//! the numeric `room_id` of the current live session, which changes every time the streamer
//! goes live. It is read from the room page's HTML, which also hands out the `ttwid` cookie the
//! WebSocket handshake needs.

use std::sync::{LazyLock, OnceLock};

use rand::Rng;
use regex::Regex;
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::Url;

use super::DouyinConfig;

pub const DEFAULT_WS_HOST: &str = "wss://webcast100-ws-web-lq.douyin.com";
pub const DEFAULT_PAGE_HOST: &str = "https://live.douyin.com";
/// A current desktop Chrome on Windows; the server expects a full browser UA.
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
    AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";
/// What the handshake sends as Origin and Referer, whatever host is used.
pub const SITE_ORIGIN: &str = "https://live.douyin.com";
pub const PUSH_PATH: &str = "/webcast/im/push/v2/";
pub const VERSION_CODE: &str = "180800";
pub const SDK_VERSION: &str = "1.0.14-beta.0";
/// The room page is ~0.5 MiB; the room id is near the top.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// `roomId\":\"123\"` inside the page's escaped JSON, or the unescaped `"roomId":"123"`.
static ROOM_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"roomId\\?":\\?"(\d+)\\?""#).expect("valid regex"));

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("the room page {url} is unreachable: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the room page {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "no room id in the page of room {room}: is the room live? (or the page layout changed)"
    )]
    NoRoomId { room: String },
}

/// The live session to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub room_id: String,
    pub ttwid: Option<String>,
}

/// Where the room page and the push server are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://live.douyin.com` (no trailing slash).
    pub page_base: String,
    /// `wss://…` (no trailing slash).
    pub ws_base: String,
}

impl Endpoints {
    /// From `endpoint` when set (one host for both, `http`→`ws`, `https`→`wss`), else from
    /// `page_host` / `ws_host`.
    pub fn from_config(config: &DouyinConfig) -> Result<Self, String> {
        let Some(endpoint) = config.endpoint.as_deref() else {
            return Ok(Self {
                page_base: config.page_host.trim_end_matches('/').to_string(),
                ws_base: config.ws_host.trim_end_matches('/').to_string(),
            });
        };
        let endpoint = endpoint.trim_end_matches('/');
        let ws_base = if let Some(rest) = endpoint.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = endpoint.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return Err(format!(
                "endpoint {endpoint:?} must start with http:// or https://"
            ));
        };
        Ok(Self {
            page_base: endpoint.to_string(),
            ws_base,
        })
    }

    pub fn room_page(&self, web_rid: &str) -> String {
        format!("{}/{web_rid}", self.page_base)
    }
}

/// A random 19-digit number, the same for the whole process (the site keeps one per browser).
pub fn user_unique_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        rand::rng()
            .random_range(1_000_000_000_000_000_000u64..10_000_000_000_000_000_000u64)
            .to_string()
    })
}

/// The site answers a first visit without `__ac_nonce` with a JavaScript challenge instead
/// of the room; a browser-like random nonce (21 hex digits) gets the real page.
fn ac_nonce() -> &'static str {
    static NONCE: OnceLock<String> = OnceLock::new();
    NONCE.get_or_init(|| {
        let mut rng = rand::rng();
        (0..21)
            .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
            .collect()
    })
}

pub fn extract_room_id(html: &str) -> Option<String> {
    ROOM_ID.captures(html).map(|c| c[1].to_string())
}

/// The `ttwid` cookie from the `Set-Cookie` headers, if any.
pub fn ttwid_from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.trim().split_once('='))
        .find(|(name, value)| *name == "ttwid" && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// Reads a response body, keeping at most `cap` bytes (the rest is not read).
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    Ok(body)
}

/// Finds the current `room_id` and a `ttwid` (see the module docs).
pub async fn resolve(
    http: &reqwest::Client,
    config: &DouyinConfig,
    endpoints: &Endpoints,
) -> Result<Room, ResolveError> {
    let url = endpoints.room_page(&config.web_rid());
    let (html, mut ttwid) = fetch_page(http, &url, None, config.cookie.as_deref()).await?;
    if let Some(room_id) = extract_room_id(&html) {
        if ttwid.is_none() {
            ttwid = fetch_ttwid(http, endpoints, config).await;
        }
        return Ok(Room { room_id, ttwid });
    }
    // Some answers only hand out `ttwid` and want it back before they show the room.
    let ttwid = match ttwid {
        Some(t) => Some(t),
        None => fetch_ttwid(http, endpoints, config).await,
    };
    if let Some(t) = ttwid.as_deref() {
        let (html, _) = fetch_page(http, &url, Some(t), config.cookie.as_deref()).await?;
        if let Some(room_id) = extract_room_id(&html) {
            return Ok(Room {
                room_id,
                ttwid: ttwid.clone(),
            });
        }
    }
    Err(ResolveError::NoRoomId {
        room: config.web_rid(),
    })
}

async fn fetch_page(
    http: &reqwest::Client,
    url: &str,
    ttwid: Option<&str>,
    extra_cookie: Option<&str>,
) -> Result<(String, Option<String>), ResolveError> {
    let mut cookie = format!("__ac_nonce={}", ac_nonce());
    if let Some(t) = ttwid {
        cookie.push_str("; ttwid=");
        cookie.push_str(t);
    }
    if let Some(extra) = extra_cookie.filter(|c| !c.trim().is_empty()) {
        cookie.push_str("; ");
        cookie.push_str(extra.trim());
    }
    let unreachable = |source| ResolveError::Unreachable {
        url: url.to_string(),
        source,
    };
    let response = http
        .get(url)
        .header(COOKIE, cookie)
        .header("Accept-Language", "zh-CN,zh;q=0.9")
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(ResolveError::Status {
            url: url.to_string(),
            status: response.status().as_u16(),
        });
    }
    let ttwid = ttwid_from_headers(response.headers());
    let body = read_capped(response, MAX_PAGE_BYTES)
        .await
        .map_err(unreachable)?;
    Ok((String::from_utf8_lossy(&body).into_owned(), ttwid))
}

/// `ttwid` from the site's front page, when the room page did not set one.
async fn fetch_ttwid(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    config: &DouyinConfig,
) -> Option<String> {
    let url = format!("{}/", endpoints.page_base);
    match fetch_page(http, &url, None, config.cookie.as_deref()).await {
        Ok((_, ttwid)) => ttwid,
        Err(e) => {
            tracing::debug!(error = %e, "no ttwid from the front page");
            None
        }
    }
}

/// Everything the push URL depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushParams<'a> {
    pub room_id: &'a str,
    pub user_unique_id: &'a str,
    pub cursor: &'a str,
    pub internal_ext: &'a str,
    pub user_agent: &'a str,
}

/// The query of the push URL, in the order the site sends it (`signature` is appended last).
pub fn push_query<'a>(p: &PushParams<'a>) -> Vec<(&'static str, &'a str)> {
    let browser_version = p
        .user_agent
        .strip_prefix("Mozilla/")
        .unwrap_or(p.user_agent);
    vec![
        ("app_name", "douyin_web"),
        ("version_code", VERSION_CODE),
        ("webcast_sdk_version", SDK_VERSION),
        ("update_version_code", SDK_VERSION),
        ("compress", "gzip"),
        ("device_platform", "web"),
        ("cookie_enabled", "true"),
        ("screen_width", "1920"),
        ("screen_height", "1080"),
        ("browser_language", "zh-CN"),
        ("browser_platform", "Win32"),
        ("browser_name", "Mozilla"),
        ("browser_version", browser_version),
        ("browser_online", "true"),
        ("tz_name", "Asia/Shanghai"),
        ("cursor", p.cursor),
        ("internal_ext", p.internal_ext),
        ("host", SITE_ORIGIN),
        ("aid", "6383"),
        ("live_id", "1"),
        ("did_rule", "3"),
        ("endpoint", "live_pc"),
        ("support_wrds", "1"),
        ("user_unique_id", p.user_unique_id),
        ("im_path", "/webcast/im/fetch/"),
        ("identity", "audience"),
        ("need_persist_msg_count", "15"),
        ("room_id", p.room_id),
        ("heartbeatDuration", "0"),
    ]
}

/// `{ws_base}/webcast/im/push/v2/?…&signature=…` with every value URL-encoded.
pub fn push_url(
    ws_base: &str,
    params: &PushParams<'_>,
    signature: Option<&str>,
) -> Result<Url, String> {
    let mut url = Url::parse(&format!("{ws_base}{PUSH_PATH}"))
        .map_err(|e| format!("bad push server address {ws_base:?}: {e}"))?;
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in push_query(params) {
            query.append_pair(key, value);
        }
        if let Some(signature) = signature {
            query.append_pair("signature", signature);
        }
    }
    Ok(url)
}

/// A first-connection cursor and `internal_ext` in the shape the site's own first fetch gets
/// (the server replaces both with its own in the first frame).
pub fn initial_resume(room_id: &str, user_unique_id: &str, now_ms: u64) -> (String, String) {
    let cursor = format!("t-{now_ms}_r-1_d-1_u-1_h-1");
    let internal_ext = format!(
        "internal_src:dim|wss_push_room_id:{room_id}|wss_push_did:{user_unique_id}\
         |first_req_ms:{now_ms}|fetch_time:{now_ms}|seq:1|wss_info:0-{now_ms}-0-0"
    );
    (cursor, internal_ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn params<'a>() -> PushParams<'a> {
        PushParams {
            room_id: "7300000000000000001",
            user_unique_id: "7412345678901234567",
            cursor: "t-1_r-1",
            internal_ext: "internal_src:dim|seq:1",
            user_agent: DEFAULT_USER_AGENT,
        }
    }

    #[test]
    fn the_push_url_has_every_param_encoded_and_the_signature_last() {
        let url = push_url("wss://example.test", &params(), Some("sig/+=")).unwrap();
        assert_eq!(url.path(), PUSH_PATH);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let expected = push_query(&params());
        assert_eq!(pairs.len(), expected.len() + 1);
        for ((k, v), (ek, ev)) in pairs.iter().zip(&expected) {
            assert_eq!((k.as_str(), v.as_str()), (*ek, *ev));
        }
        assert_eq!(
            pairs.last().unwrap(),
            &("signature".to_string(), "sig/+=".to_string())
        );
        let query = url.query().unwrap();
        assert!(
            query.contains("internal_ext=internal_src%3Adim%7Cseq%3A1"),
            "{query}"
        );
        assert!(
            query.contains("browser_version=5.0+%28Windows+NT"),
            "{query}"
        );
        for key in [
            "app_name",
            "version_code",
            "webcast_sdk_version",
            "update_version_code",
            "compress",
            "device_platform",
            "cookie_enabled",
            "screen_width",
            "screen_height",
            "browser_language",
            "browser_platform",
            "browser_name",
            "browser_version",
            "browser_online",
            "tz_name",
            "cursor",
            "internal_ext",
            "host",
            "aid",
            "live_id",
            "did_rule",
            "endpoint",
            "support_wrds",
            "user_unique_id",
            "im_path",
            "identity",
            "need_persist_msg_count",
            "room_id",
            "heartbeatDuration",
            "signature",
        ] {
            assert!(pairs.iter().any(|(k, _)| k == key), "missing {key}");
        }
        let unsigned = push_url("ws://127.0.0.1:9", &params(), None).unwrap();
        assert!(!unsigned.query().unwrap().contains("signature"));
    }

    #[test]
    fn room_ids_are_found_escaped_or_not() {
        let escaped = r#"self.__pace_f.push([1,"{\"roomId\":\"7312345678901234567\",\"x\":1}"])"#;
        assert_eq!(
            extract_room_id(escaped).as_deref(),
            Some("7312345678901234567")
        );
        let plain = r#"{"state":{"roomId":"42","status":2}}"#;
        assert_eq!(extract_room_id(plain).as_deref(), Some("42"));
        assert_eq!(extract_room_id("<html>not live</html>"), None);
        assert_eq!(extract_room_id(r#""roomId":"""#), None);
    }

    #[test]
    fn ttwid_comes_from_set_cookie() {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("ttwid=1%7Cabc; Path=/; HttpOnly"),
        );
        assert_eq!(ttwid_from_headers(&headers).as_deref(), Some("1%7Cabc"));
        assert_eq!(ttwid_from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn an_endpoint_override_serves_page_and_push_from_one_host() {
        let mut config = DouyinConfig {
            endpoint: Some("http://127.0.0.1:8080/".into()),
            ..DouyinConfig::default()
        };
        let e = Endpoints::from_config(&config).unwrap();
        assert_eq!(e.room_page("123"), "http://127.0.0.1:8080/123");
        assert_eq!(e.ws_base, "ws://127.0.0.1:8080");
        config.endpoint = Some("https://proxy.test".into());
        assert_eq!(
            Endpoints::from_config(&config).unwrap().ws_base,
            "wss://proxy.test"
        );
        config.endpoint = Some("ftp://x".into());
        assert!(Endpoints::from_config(&config).is_err());
        config.endpoint = None;
        let e = Endpoints::from_config(&config).unwrap();
        assert_eq!(
            (e.page_base.as_str(), e.ws_base.as_str()),
            (DEFAULT_PAGE_HOST, DEFAULT_WS_HOST)
        );
    }

    #[test]
    fn the_user_unique_id_has_19_digits_and_stays_the_same() {
        let id = user_unique_id();
        assert_eq!(id.len(), 19);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(user_unique_id(), id);
        assert_eq!(ac_nonce().len(), 21);
    }

    #[test]
    fn the_initial_resume_state_names_the_room() {
        let (cursor, ext) = initial_resume("77", "88", 1_000);
        assert!(cursor.starts_with("t-1000_"));
        assert!(ext.contains("wss_push_room_id:77|wss_push_did:88"));
    }
}
