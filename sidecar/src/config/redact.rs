//! `Debug` for the config sections that hold a secret, written by hand so `{:?}` of a config
//! (which ends up in logs and panic messages) never prints the OBS password or the link token.
//! The platform sections (`source.*`) and `[llm]` redact their own secrets next to their
//! definitions; the test below checks the whole tree.

use std::fmt;

use super::{LinkConfig, ObsConfig};

/// What a secret shows as: whether it is set, never what it is.
pub(crate) fn shown(secret: &str) -> &'static str {
    if secret.is_empty() {
        "<unset>"
    } else {
        "<redacted>"
    }
}

impl fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { bind, token } = self;
        f.debug_struct("LinkConfig")
            .field("bind", bind)
            .field("token", &shown(token))
            .finish()
    }
}

impl fmt::Debug for ObsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field is a compile error here, not a silent omission.
        let Self {
            enabled,
            host,
            port,
            password,
            scenes_dir,
            record,
            start_on_main,
            retry_secs,
            retry_max_secs,
            request_timeout_secs,
            connect_timeout_secs,
        } = self;
        f.debug_struct("ObsConfig")
            .field("enabled", enabled)
            .field("host", host)
            .field("port", port)
            .field("password", &shown(password))
            .field("scenes_dir", scenes_dir)
            .field("record", record)
            .field("start_on_main", start_on_main)
            .field("retry_secs", retry_secs)
            .field("retry_max_secs", retry_max_secs)
            .field("request_timeout_secs", request_timeout_secs)
            .field("connect_timeout_secs", connect_timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    #[test]
    fn debug_of_a_config_never_shows_a_secret() {
        let secrets = [
            "obs-pw-1",
            "link-tok-2",
            "app-sec-3",
            "acc-tok-4",
            "bili-key-5",
            "cookie-6",
            "sk-7",
        ];
        let text = format!(
            r#"
[obs]
password = "{}"
[link]
token = "{}"
[source.douyin_open_platform]
app_secret = "{}"
access_token = "{}"
[source.bilibili]
room_id = 1
key = "{}"
[source.douyin]
room = "123"
cookie = "{}"
[llm]
api_key = "{}"
"#,
            secrets[0], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5], secrets[6]
        );
        let config = Config::parse(&text, Path::new("t.toml")).unwrap();
        assert_eq!(config.obs.password, "obs-pw-1", "the field itself is plain");
        let shown = format!("{config:?} {config:#?}");
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} shows in {shown}");
        }
        assert!(shown.contains("<redacted>"));
        let unset = format!("{:?}", Config::default().obs);
        assert!(unset.contains("<unset>"), "{unset}");
    }
}
