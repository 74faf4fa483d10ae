//! Rules edited while the show runs: the config file's `[lines]` and the scene files (scenes
//! and triggers) are watched and, when one changes, read and checked again.
//!
//! A good edit is handed to the show, which applies it at the next event without dropping
//! anything queued ([`crate::show::Reload`]). A broken one is reported with its file and line
//! and the show keeps the rules it has; the next save is tried again.
//!
//! The files are polled (size and modification time, every second) rather than watched with
//! OS notifications: editors save by rename, Windows network drives and synced folders do not
//! always notify, and a second of delay is nothing next to a show that runs all night.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::config::Config;
use crate::scene_dir::SceneDir;
use crate::show::Reload;

/// How often the files are looked at.
pub const PERIOD: Duration = Duration::from_secs(1);

type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn stamp(config: &Path, scenes_dir: &Path) -> Stamp {
    std::iter::once(config.to_path_buf())
        .chain(SceneDir::files(scenes_dir))
        .map(|path| {
            let meta = std::fs::metadata(&path)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            (path, meta)
        })
        .collect()
}

/// Reads the rules again.
pub fn load(config_path: &Path) -> Result<Reload, String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let mut scene_dir = SceneDir::load(&config.obs.scenes_dir).map_err(|e| e.to_string())?;
    // A reload re-ensures the scenes: the label comes back with them.
    crate::obs::compliance::label_scenes(&mut scene_dir.scenes, &config.compliance);
    let dir = config_path.parent().unwrap_or(Path::new(""));
    let (targets, left_out) = crate::obs::push::config::resolve_all(&config.push, dir);
    for error in &left_out {
        tracing::error!(%error, "push target cannot be re-read; it keeps its settings");
    }
    let keep = left_out.iter().map(|e| e.target().to_string()).collect();
    Ok(Reload {
        push: crate::obs::push::PushSet { targets, keep },
        from: std::iter::once(config_path.to_path_buf())
            .chain(SceneDir::files(&config.obs.scenes_dir))
            .collect(),
        lines: config.lines,
        scene_dir,
    })
}

/// Watches `config_path` and the scene files in `scenes_dir` (the directory the running show
/// uses); each good edit comes out of the returned channel.
pub fn spawn(
    config_path: PathBuf,
    scenes_dir: PathBuf,
    period: Duration,
) -> mpsc::Receiver<Reload> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut seen = stamp(&config_path, &scenes_dir);
        loop {
            tokio::time::sleep(period).await;
            if tx.is_closed() {
                return;
            }
            let now = stamp(&config_path, &scenes_dir);
            if now == seen {
                continue;
            }
            seen = now;
            let path = config_path.clone();
            match tokio::task::spawn_blocking(move || load(&path)).await {
                Ok(Ok(reload)) => {
                    if tx.send(reload).await.is_err() {
                        return;
                    }
                }
                Ok(Err(why)) => tracing::error!(
                    "an edited rule file cannot be used; the show keeps the rules it has until it is fixed:\n{why}"
                ),
                Err(e) => tracing::error!(error = %e, "reading the edited rules failed"),
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config and a scene dir of its own, like a streamer's folder.
    fn folder() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let scenes = dir.path().join("scenes");
        std::fs::create_dir(&scenes).unwrap();
        std::fs::copy(root.join("scenes/show.toml"), scenes.join("show.toml")).unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!("[obs]\nscenes_dir = {:?}\n", scenes.display().to_string()),
        )
        .unwrap();
        (dir, config, scenes)
    }

    fn trigger(name: &str) -> String {
        format!("[[trigger]]\nname = \"{name}\"\nwhen.follow = true\n[[trigger.do]]\nspeak = \"谢谢{{user}}\"\n")
    }

    #[tokio::test]
    async fn an_edit_is_handed_over_and_a_broken_one_is_not() {
        let (_dir, config, scenes) = folder();
        let period = Duration::from_millis(50);
        let mut reloads = spawn(config.clone(), scenes.clone(), period);
        let quiet = tokio::time::timeout(Duration::from_millis(300), reloads.recv()).await;
        assert!(quiet.is_err(), "nothing changed, nothing reloaded");

        std::fs::write(scenes.join("mine.toml"), trigger("first")).unwrap();
        let reload = tokio::time::timeout(Duration::from_secs(5), reloads.recv())
            .await
            .expect("a reload")
            .expect("open");
        let names: Vec<_> = reload
            .scene_dir
            .triggers
            .rules()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names, ["first"]);

        // A broken edit (an unknown placeholder) is reported, never handed over…
        std::fs::write(
            scenes.join("mine.toml"),
            trigger("second").replace("{user}", "{nobody}"),
        )
        .unwrap();
        let broken = tokio::time::timeout(Duration::from_millis(600), reloads.recv()).await;
        assert!(broken.is_err(), "a broken edit must not replace the rules");
        assert!(
            load(&config).unwrap_err().contains("mine.toml:5"),
            "{}",
            load(&config).unwrap_err()
        );

        // …and the fixed file comes through; so does an edit of the config's [lines].
        std::fs::write(scenes.join("mine.toml"), trigger("second")).unwrap();
        let reload = tokio::time::timeout(Duration::from_secs(5), reloads.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reload.scene_dir.triggers.rules()[0].name, "second");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{text}[lines]\nidle = [\"新的闲聊\"]\n")).unwrap();
        let reload = tokio::time::timeout(Duration::from_secs(5), reloads.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reload.lines.idle[0].get_ref(), "新的闲聊");
    }
}
