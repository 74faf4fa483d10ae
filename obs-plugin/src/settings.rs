//! The source's settings: keys, defaults, the properties dialog, and reading them back.

use std::ffi::{CStr, CString};

use obs_wrapper::obs_sys::{
    obs_data_get_bool, obs_data_get_int, obs_data_get_string, obs_data_set_default_bool,
    obs_data_set_default_int, obs_data_set_default_string, obs_data_t, obs_properties_add_bool,
    obs_properties_add_int, obs_properties_add_text, obs_properties_create, obs_properties_t,
    obs_property_int_set_suffix, obs_property_set_long_description, obs_text_type_OBS_TEXT_DEFAULT,
    obs_text_type_OBS_TEXT_PASSWORD,
};

use crate::avatar::RenderConfig;
use crate::ffi::{obs_property_text_set_info_type, OBS_TEXT_INFO, OBS_TEXT_INFO_WARNING};
use crate::link::{LinkSettings, LinkStatus, DEFAULT_URL};
use crate::locale::text;

const KEY_URL: &CStr = c"link_url";
const KEY_TOKEN: &CStr = c"link_token";
const KEY_WIDTH: &CStr = c"width";
const KEY_HEIGHT: &CStr = c"height";
const KEY_SHOW_LABEL: &CStr = c"show_label";
/// Not a setting: the name of the read-only status line in the dialog.
const KEY_STATUS: &CStr = c"link_status";

/// Frame size limits (the dialog enforces them; `update` clamps values set by scripts).
pub const MIN_SIZE: u32 = 64;
pub const MAX_SIZE: u32 = 4096;
pub const DEFAULT_SIZE: u32 = 512;

/// Everything configurable about one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub link: LinkSettings,
    pub render: RenderConfig,
}

impl Settings {
    /// Normalises raw values: sizes clamped to the supported range, blank URL → default.
    pub fn new(url: &str, token: &str, width: i64, height: i64, show_label: bool) -> Self {
        let url = url.trim();
        let size = |v: i64| v.clamp(i64::from(MIN_SIZE), i64::from(MAX_SIZE)) as u32;
        Self {
            link: LinkSettings {
                url: if url.is_empty() {
                    DEFAULT_URL.into()
                } else {
                    url.into()
                },
                token: token.trim().into(),
            },
            render: RenderConfig {
                width: size(width),
                height: size(height),
                show_label,
            },
        }
    }

    /// Reads the settings OBS stores for the source.
    ///
    /// # Safety
    /// `data` must be a valid `obs_data_t`.
    pub unsafe fn from_obs(data: *mut obs_data_t) -> Self {
        // SAFETY: per the caller's contract; `obs_data_get_string` never returns NULL for a
        // valid object (missing keys read as ""), but we check anyway.
        unsafe {
            let string = |key: &CStr| {
                let ptr = obs_data_get_string(data, key.as_ptr());
                if ptr.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(ptr).to_string_lossy().into_owned()
                }
            };
            Self::new(
                &string(KEY_URL),
                &string(KEY_TOKEN),
                obs_data_get_int(data, KEY_WIDTH.as_ptr()),
                obs_data_get_int(data, KEY_HEIGHT.as_ptr()),
                obs_data_get_bool(data, KEY_SHOW_LABEL.as_ptr()),
            )
        }
    }
}

/// # Safety
/// `data` must be a valid `obs_data_t`.
pub unsafe fn set_defaults(data: *mut obs_data_t) {
    let url = CString::new(DEFAULT_URL).unwrap_or_default();
    // SAFETY: valid object and NUL-terminated keys/values.
    unsafe {
        obs_data_set_default_string(data, KEY_URL.as_ptr(), url.as_ptr());
        obs_data_set_default_string(data, KEY_TOKEN.as_ptr(), c"".as_ptr());
        obs_data_set_default_int(data, KEY_WIDTH.as_ptr(), i64::from(DEFAULT_SIZE));
        obs_data_set_default_int(data, KEY_HEIGHT.as_ptr(), i64::from(DEFAULT_SIZE));
        obs_data_set_default_bool(data, KEY_SHOW_LABEL.as_ptr(), true);
    }
}

/// Builds the properties dialog. `status` is the link state of the instance, if there is one
/// (OBS also asks for properties without an instance, e.g. for defaults).
///
/// # Safety
/// Must be called from an OBS callback (libobs initialised). OBS copies every string passed.
pub unsafe fn properties(status: Option<LinkStatus>) -> *mut obs_properties_t {
    // SAFETY: plain libobs calls on a properties object we just created.
    unsafe {
        let props = obs_properties_create();
        obs_properties_add_text(
            props,
            KEY_URL.as_ptr(),
            text(c"LinkUrl").as_ptr(),
            obs_text_type_OBS_TEXT_DEFAULT,
        );
        obs_properties_add_text(
            props,
            KEY_TOKEN.as_ptr(),
            text(c"LinkToken").as_ptr(),
            obs_text_type_OBS_TEXT_PASSWORD,
        );
        let (min, max) = (MIN_SIZE as i32, MAX_SIZE as i32);
        for (key, label) in [(KEY_WIDTH, c"Width"), (KEY_HEIGHT, c"Height")] {
            let prop =
                obs_properties_add_int(props, key.as_ptr(), text(label).as_ptr(), min, max, 1);
            obs_property_int_set_suffix(prop, c" px".as_ptr());
        }
        let label =
            obs_properties_add_bool(props, KEY_SHOW_LABEL.as_ptr(), text(c"ShowLabel").as_ptr());
        obs_property_set_long_description(label, text(c"ShowLabel.Description").as_ptr());
        if let Some(status) = status {
            let key = match status {
                LinkStatus::Connecting => c"Status.Connecting",
                LinkStatus::Connected => c"Status.Connected",
                LinkStatus::Disconnected => c"Status.Disconnected",
                LinkStatus::Unauthorized => c"Status.Unauthorized",
            };
            let prop = obs_properties_add_text(
                props,
                KEY_STATUS.as_ptr(),
                text(key).as_ptr(),
                OBS_TEXT_INFO,
            );
            if status != LinkStatus::Connected {
                obs_property_text_set_info_type(prop, OBS_TEXT_INFO_WARNING);
            }
        }
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_are_normalised() {
        let s = Settings::new("  ", " tok ", 10, 100_000, false);
        assert_eq!(
            s.link,
            LinkSettings {
                url: DEFAULT_URL.into(),
                token: "tok".into()
            }
        );
        assert_eq!(
            s.render,
            RenderConfig {
                width: MIN_SIZE,
                height: MAX_SIZE,
                show_label: false
            }
        );
        let s = Settings::new("ws://10.0.0.2:7780/avatar", "", 640, 360, true);
        assert_eq!(s.link.url, "ws://10.0.0.2:7780/avatar");
        assert_eq!((s.render.width, s.render.height), (640, 360));
    }
}
