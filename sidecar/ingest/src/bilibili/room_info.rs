//! Looking up a room's danmaku token and server (`getDanmuInfo`) when no `key` is configured.
//!
//! `GET {api}/xlive/web-room/v1/index/getDanmuInfo?id=<room_id>&type=0` answers
//! `{"code":0,"data":{"token":"…","host_list":[{"host":"…","wss_port":443,…}]}}`.
//!
//! **Limitation.** The live site signs this request with WBI (`wts` and `w_rid` query
//! parameters made from keys that rotate daily) and sends the viewer's login cookies. This
//! module sends the plain unsigned request: depending on the network and the room, Bilibili may
//! refuse it (code -352, risk control) or hand out a token for a degraded stream (user ids 0,
//! masked names). The supported path is to configure `key` (the token) and `buvid` (the
//! `buvid3` cookie) copied from the streamer's own logged-in browser; see the module docs of
//! [`super`].

use std::time::Duration;

use serde_json::Value;

use super::BilibiliError;

/// Bodies beyond this are not a getDanmuInfo answer (real ones are ~1 KiB).
const MAX_BODY: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// What getDanmuInfo told us. `token` is a secret: never log it.
#[derive(Clone)]
pub struct DanmuInfo {
    pub token: String,
    /// First entry of `host_list`: `(host, wss_port)`.
    pub host: Option<(String, u16)>,
}

impl std::fmt::Debug for DanmuInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DanmuInfo")
            .field("token", &"<redacted>")
            .field("host", &self.host)
            .finish()
    }
}

impl DanmuInfo {
    /// The WebSocket URL of the first listed host.
    pub fn ws_url(&self) -> Option<String> {
        self.host
            .as_ref()
            .map(|(host, port)| format!("wss://{host}:{port}/sub"))
    }
}

/// Fetches the token (and host) for `room_id` from `api` (e.g. `https://api.live.bilibili.com`).
pub async fn fetch(
    http: &reqwest::Client,
    api: &str,
    room_id: u64,
    buvid: &str,
) -> Result<DanmuInfo, BilibiliError> {
    let url = format!(
        "{}/xlive/web-room/v1/index/getDanmuInfo?id={room_id}&type=0",
        api.trim_end_matches('/')
    );
    let mut request = http
        .get(&url)
        .timeout(TIMEOUT)
        .header(reqwest::header::USER_AGENT, super::USER_AGENT)
        .header(
            reqwest::header::REFERER,
            format!("https://live.bilibili.com/{room_id}"),
        );
    if !buvid.is_empty() {
        request = request.header(reqwest::header::COOKIE, format!("buvid3={buvid}"));
    }
    let mut response = request
        .send()
        .await
        .map_err(BilibiliError::RoomInfoHttp)?
        .error_for_status()
        .map_err(BilibiliError::RoomInfoHttp)?;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(BilibiliError::RoomInfoHttp)?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BilibiliError::RoomInfoMalformed(
                "response larger than 256 KiB",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    parse(&body)
}

/// Parses a getDanmuInfo answer.
pub fn parse(body: &[u8]) -> Result<DanmuInfo, BilibiliError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|_| BilibiliError::RoomInfoMalformed("response is not JSON"))?;
    let code = doc["code"]
        .as_i64()
        .ok_or(BilibiliError::RoomInfoMalformed("no numeric \"code\""))?;
    if code != 0 {
        return Err(BilibiliError::RoomInfoRefused {
            code,
            message: doc["message"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect(),
        });
    }
    let token = doc["data"]["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or(BilibiliError::RoomInfoMalformed("no data.token"))?;
    let first = &doc["data"]["host_list"][0];
    let host = match (first["host"].as_str(), first["wss_port"].as_u64()) {
        (Some(host), Some(port)) if !host.is_empty() => {
            Some((host.to_string(), u16::try_from(port).unwrap_or(443)))
        }
        _ => None,
    };
    Ok(DanmuInfo {
        token: token.to_string(),
        host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_answer_gives_the_token_and_first_host() {
        let body = br#"{"code":0,"message":"0","ttl":1,"data":{"group":"live","business_id":0,
            "refresh_row_factor":0.125,"refresh_rate":100,"max_delay":5000,"token":"tok-123",
            "host_list":[{"host":"zj-cn-live-comet.chat.bilibili.com","port":2243,"wss_port":443,"ws_port":2244},
                         {"host":"broadcastlv.chat.bilibili.com","port":2243,"wss_port":443,"ws_port":2244}]}}"#;
        let info = parse(body).unwrap();
        assert_eq!(info.token, "tok-123");
        assert_eq!(
            info.ws_url().as_deref(),
            Some("wss://zj-cn-live-comet.chat.bilibili.com:443/sub")
        );
        assert!(!format!("{info:?}").contains("tok-123"));
    }

    #[test]
    fn risk_control_refusals_name_the_code_and_message() {
        let err = parse(br#"{"code":-352,"message":"-352","ttl":1}"#).unwrap_err();
        assert!(
            matches!(&err, BilibiliError::RoomInfoRefused { code: -352, message } if message == "-352"),
            "{err:?}"
        );
        assert!(err.to_string().contains("-352"));
        assert!(err.is_fatal());
    }

    #[test]
    fn answers_without_a_token_or_json_are_malformed() {
        assert!(matches!(
            parse(br#"{"code":0,"data":{"host_list":[]}}"#),
            Err(BilibiliError::RoomInfoMalformed(_))
        ));
        assert!(matches!(
            parse(b"<html>"),
            Err(BilibiliError::RoomInfoMalformed(_))
        ));
        let no_host = parse(br#"{"code":0,"data":{"token":"t","host_list":[]}}"#).unwrap();
        assert_eq!(no_host.ws_url(), None);
    }

    #[tokio::test]
    async fn fetch_sends_the_room_and_buvid_and_reads_the_answer() {
        use axum::extract::Query;
        use axum::http::HeaderMap;
        use std::collections::HashMap;

        let app = axum::Router::new().route(
            "/xlive/web-room/v1/index/getDanmuInfo",
            axum::routing::get(
                |Query(q): Query<HashMap<String, String>>, headers: HeaderMap| async move {
                    let cookie = headers
                        .get("cookie")
                        .and_then(|c| c.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    if q.get("id").map(String::as_str) == Some("4321")
                        && q.get("type").map(String::as_str) == Some("0")
                        && cookie == "buvid3=BUVID-X"
                    {
                        r#"{"code":0,"data":{"token":"tok","host_list":[{"host":"h.example","wss_port":2245}]}}"#
                    } else {
                        r#"{"code":-400,"message":"bad request"}"#
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let info = fetch(&http, &format!("http://{addr}/"), 4321, "BUVID-X")
            .await
            .unwrap();
        assert_eq!(info.token, "tok");
        assert_eq!(info.ws_url().as_deref(), Some("wss://h.example:2245/sub"));
        let refused = fetch(&http, &format!("http://{addr}"), 1, "BUVID-X").await;
        assert!(matches!(
            refused,
            Err(BilibiliError::RoomInfoRefused { code: -400, .. })
        ));
    }
}
