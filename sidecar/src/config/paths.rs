//! Every path setting is relative to the config file's directory, resolved here once, when the
//! config is assembled: a show started from a desktop shortcut, a service manager or another
//! terminal finds the same files as one started next to the config. A config without a file
//! (`Config::default()`, a text parsed with a bare file name) keeps its paths relative, that is
//! to the working directory.
//!
//! Model files (ONNX Runtime, Silero, Piper) differ in one way: their defaults are not paths
//! *in* the config but names searched for (`aivs_speech::onnx::locate`: the working directory,
//! the executable's folders, the workspace), so only a model path the file sets is anchored to
//! the file; a default is left to that search.

use std::path::{Path, PathBuf};

use super::{spans, Config};
use aivs_ingest::SourceEntry;

/// `path` against `base` when relative; absolute paths are kept.
pub fn anchor(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || base.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Resolves the config's paths against `base`, the config file's directory. `text` tells
/// which keys the file sets (for the model paths).
pub(super) fn resolve(config: &mut Config, text: &str, base: &Path) {
    let fix = |path: &mut PathBuf| *path = anchor(base, path);
    fix(&mut config.obs.scenes_dir);
    fix(&mut config.ledger.path);
    fix(&mut config.voice.cache.dir);
    fix(&mut config.rundown.dir);
    fix(&mut config.room.replay);
    for entry in config.source.settings_mut() {
        if let SourceEntry::Replay(room) = entry {
            fix(&mut room.replay);
        }
    }
    for target in &mut config.push {
        if let Some(file) = target.key_file.as_mut() {
            fix(file);
        }
    }
    for list in &mut config.llm.safety_lists {
        fix(list.get_mut());
    }
    if let Some(model) = config.voice.piper.model.as_mut() {
        fix(model);
    }
    if let Some(runtime) = config.onnx.runtime_path.as_mut() {
        fix(runtime);
    }
    // Empty means "not set" for these two (next to the ledger; no log file).
    for path in [&mut config.console.url_file, &mut config.log.dir] {
        if !path.as_os_str().is_empty() {
            fix(path);
        }
    }
    if spans::key_span(text, "voice.vad.silero_model").is_some() {
        fix(&mut config.voice.vad.silero_model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, path: &str) -> Config {
        Config::parse(text, Path::new(path)).unwrap()
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let text = "[obs]\nscenes_dir = \"../scenes\"\n[ledger]\npath = \"data/l.sqlite3\"\n\
                    [voice.piper]\nmodel = \"m/voice.onnx\"\n[voice.vad]\n\
                    silero_model = \"m/silero.onnx\"\n[onnx]\nruntime_path = \"m/ort.so\"\n\
                    [[push]]\nname = \"b\"\nserver = \"rtmp://x/\"\nkey_file = \"keys/b\"\n";
        let c = parse(text, "/srv/show/config/c.toml");
        let base = Path::new("/srv/show/config");
        assert_eq!(c.obs.scenes_dir, base.join("../scenes"));
        assert_eq!(c.ledger.path, base.join("data/l.sqlite3"));
        assert_eq!(
            c.voice.piper.model.as_deref(),
            Some(&*base.join("m/voice.onnx"))
        );
        assert_eq!(c.voice.vad.silero_model, base.join("m/silero.onnx"));
        assert_eq!(
            c.onnx.runtime_path.as_deref(),
            Some(&*base.join("m/ort.so"))
        );
        assert_eq!(c.push[0].key_file.as_deref(), Some(&*base.join("keys/b")));
    }

    #[test]
    fn defaults_are_next_to_the_config_but_models_are_searched_for() {
        let c = parse("", "/srv/show/c.toml");
        let base = Path::new("/srv/show");
        assert_eq!(c.obs.scenes_dir, base.join("scenes"));
        assert_eq!(c.ledger.path, base.join("data/ledger.sqlite3"));
        assert_eq!(c.voice.cache.dir, base.join("data/audio-cache"));
        assert_eq!(c.rundown.dir, base.join("config/scripts"));
        assert_eq!(c.room.replay, base.join("config/rooms/sample-room.jsonl"));
        // The default model name stays relative: `onnx::locate` searches for it.
        assert_eq!(
            c.voice.vad.silero_model,
            Path::new("models/silero_vad.onnx")
        );
    }

    #[test]
    fn absolute_paths_and_list_entries() {
        let text = "[ledger]\npath = \"/var/l.sqlite3\"\n[[source]]\nkind = \"replay\"\n\
                    replay = \"rooms/a.jsonl\"\n";
        let c = parse(text, "/srv/c.toml");
        assert_eq!(c.ledger.path, Path::new("/var/l.sqlite3"));
        let replay = c
            .source
            .settings()
            .into_iter()
            .find_map(|(_, e)| match e {
                SourceEntry::Replay(room) => Some(room.replay.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(replay, Path::new("/srv/rooms/a.jsonl"));
    }

    #[test]
    fn a_config_without_a_directory_keeps_the_working_directory() {
        let c = parse("[ledger]\npath = \"data/x.sqlite3\"\n", "c.toml");
        assert_eq!(c.ledger.path, Path::new("data/x.sqlite3"));
        assert_eq!(Config::default().obs.scenes_dir, Path::new("scenes"));
    }
}
