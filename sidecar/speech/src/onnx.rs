//! The process's one ONNX Runtime environment (Silero VAD, Piper voices).
//!
//! ONNX Runtime is not linked at build time: `ort`'s default features download prebuilt
//! binaries while compiling, which cannot work offline, and the library is 29 MB that most
//! set-ups (espeak-ng only) never need. Instead the shared library is opened at run time
//! (`load-dynamic`) from, in order:
//!
//! 1. [`OnnxConfig::runtime_path`] (the `[onnx]` config section),
//! 2. the `ORT_DYLIB_PATH` environment variable (the name `ort` itself uses),
//! 3. `models/onnxruntime/<library>` found relative to the working directory, the executable's
//!    directory and its parents, or the source workspace (dev builds and tests), where
//!    `scripts/install-models.sh` puts it.
//!
//! ONNX Runtime allows one environment per process and `ort` one loaded library, so the first
//! successful [`init`] wins for the life of the process; a failed attempt (library missing) is
//! not remembered, so installing the library and retrying works without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use serde::Deserialize;

/// The ONNX Runtime release `scripts/install-models.sh` installs (from the PyPI wheel).
pub const ORT_VERSION: &str = "1.31.1";

/// Environment variable naming the ONNX Runtime shared library (same name as `ort` uses).
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// File name of the runtime library as the PyPI wheel ships it. Linux and macOS wheels carry
/// only the versioned name (no unversioned symlink), so the version is part of it.
#[cfg(target_os = "linux")]
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so.1.31.1";
#[cfg(target_os = "macos")]
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.1.31.1.dylib";
#[cfg(target_os = "windows")]
pub const RUNTIME_LIBRARY: &str = "onnxruntime.dll";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so";

/// Where the install script puts the runtime, relative to the workspace (or working) directory.
pub fn default_runtime_relative() -> PathBuf {
    Path::new("models")
        .join("onnxruntime")
        .join(RUNTIME_LIBRARY)
}

/// `[onnx]`: how to find and run ONNX Runtime. The defaults (nothing set) find the runtime the
/// install script put in `models/`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnnxConfig {
    /// Path of the ONNX Runtime shared library. Unset: `ORT_DYLIB_PATH`, then
    /// `models/onnxruntime/libonnxruntime.so.1.31.1` (installed by `scripts/install-models.sh`).
    pub runtime_path: Option<PathBuf>,
    /// Threads each session may use inside one operator (0 = ONNX Runtime's default, one per
    /// core). Small models such as Silero VAD pass their own count (1): a thread pool costs
    /// more than it saves on a 512-sample window.
    pub intra_threads: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error(
        "ONNX Runtime {ORT_VERSION} not found (looked at: {}); run scripts/install-models.sh, \
         or set {DYLIB_ENV} / [onnx] runtime_path to the library",
        list(searched)
    )]
    RuntimeNotFound { searched: Vec<PathBuf> },
    #[error("cannot load ONNX Runtime from {}: {detail} (scripts/install-models.sh installs version {ORT_VERSION})", path.display())]
    RuntimeLoad { path: PathBuf, detail: String },
    #[error("cannot create the ONNX Runtime environment: {0}")]
    Environment(String),
    #[error("model {} not found (looked at: {}); run scripts/install-models.sh or fix the configured path", path.display(), list(searched))]
    ModelNotFound {
        path: PathBuf,
        searched: Vec<PathBuf>,
    },
    #[error("cannot load model {}: {detail}", path.display())]
    Session { path: PathBuf, detail: String },
    #[error("inference with {model} failed: {detail}")]
    Inference { model: String, detail: String },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Candidate locations of a path given relative to the workspace: the working directory, the
/// executable's directory and its ancestors (an installed `bin/` next to `models/`, or
/// `target/debug/deps/` inside the workspace), and the workspace this crate was built from.
fn candidates(relative: &Path) -> Vec<PathBuf> {
    if relative.is_absolute() {
        return vec![relative.to_path_buf()];
    }
    let mut out = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        out.push(cwd.join(relative));
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            out.push(dir.join(relative));
        }
    }
    // This crate (sidecar/speech/) is two levels below the workspace root.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    out.push(workspace.join(relative));
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// Resolves a model or library path given relative to the workspace (see [`candidates`]).
/// Absolute paths are taken as they are.
pub fn locate(path: &Path) -> Result<PathBuf, Vec<PathBuf>> {
    let searched = candidates(path);
    match searched.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(searched),
    }
}

/// Like [`locate`], with the typed error a caller reports.
pub fn locate_model(path: &Path) -> Result<PathBuf, OnnxError> {
    locate(path).map_err(|searched| OnnxError::ModelNotFound {
        path: path.to_path_buf(),
        searched,
    })
}

/// Which runtime library [`init`] would load for this configuration.
pub fn find_runtime(config: &OnnxConfig) -> Result<PathBuf, OnnxError> {
    let explicit = config
        .runtime_path
        .clone()
        .or_else(|| std::env::var_os(DYLIB_ENV).map(PathBuf::from));
    let searched = match explicit {
        // An explicit path that is wrong is an error, not a reason to fall back silently to
        // another library than the one the operator asked for.
        Some(path) => match locate(&path) {
            Ok(found) => return Ok(found),
            Err(searched) => searched,
        },
        None => match locate(&default_runtime_relative()) {
            Ok(found) => return Ok(found),
            Err(searched) => searched,
        },
    };
    Err(OnnxError::RuntimeNotFound { searched })
}

struct Runtime {
    environment: Environment,
    library: PathBuf,
    intra_threads: usize,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serialises initialisation: `ort` refuses a second environment, so two threads racing to
/// create one would make the loser fail.
static INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime and creates the process's environment, once. Later calls return the
/// first environment whatever their config says (one library and environment per process).
pub fn init(config: &OnnxConfig) -> Result<&'static Environment, OnnxError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(&rt.environment);
    }
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Ok(&rt.environment);
    }
    let library = find_runtime(config)?;
    let builder = ort::init_from(&library).map_err(|e| OnnxError::RuntimeLoad {
        path: library.clone(),
        detail: e.to_string(),
    })?;
    let environment = builder
        .with_name("sidecar")
        // Unattended and offline: nothing to report anywhere.
        .with_telemetry(false)
        .build()
        .map_err(|e| OnnxError::Environment(e.to_string()))?;
    tracing::info!(library = %library.display(), "ONNX Runtime loaded");
    let rt = RUNTIME.get_or_init(|| Runtime {
        environment,
        library,
        intra_threads: config.intra_threads,
    });
    Ok(&rt.environment)
}

/// The library the environment was loaded from, once [`init`] has succeeded.
pub fn loaded_library() -> Option<&'static Path> {
    RUNTIME.get().map(|rt| rt.library.as_path())
}

/// Opens a model with the configured thread count (initialising the runtime with the default
/// config if nobody did yet). `model_path` may be relative to the workspace (see [`locate`]).
pub fn session(model_path: &Path) -> Result<Session, OnnxError> {
    init(&OnnxConfig::default())?;
    let threads = RUNTIME.get().map_or(0, |rt| rt.intra_threads);
    session_with_threads(model_path, threads)
}

/// Opens a model with an explicit intra-op thread count (0 = ONNX Runtime's default).
pub fn session_with_threads(model_path: &Path, intra_threads: usize) -> Result<Session, OnnxError> {
    let environment = init(&OnnxConfig::default())?;
    let path = locate_model(model_path)?;
    let session_err = |detail: String| OnnxError::Session {
        path: path.clone(),
        detail,
    };
    let mut builder = Session::builder(environment).map_err(|e| session_err(e.to_string()))?;
    if intra_threads > 0 {
        builder = builder
            .with_intra_threads(intra_threads)
            .map_err(|e| session_err(e.to_string()))?;
    }
    builder
        .commit_from_file(&path)
        .map_err(|e| session_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime must be installed for these tests (CI runs scripts/install-models.sh); a
    /// missing one fails with the installer hint rather than skipping.
    fn env() -> &'static Environment {
        init(&OnnxConfig::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn runtime_loads_once_and_sessions_open() {
        let first = env() as *const Environment;
        // A config naming another (missing) library does not matter once loaded.
        let second = init(&OnnxConfig {
            runtime_path: Some("/nonexistent/libonnxruntime.so".into()),
            intra_threads: 0,
        })
        .unwrap() as *const Environment;
        assert_eq!(first, second);
        assert!(loaded_library().unwrap().ends_with(RUNTIME_LIBRARY));
        let session =
            session(Path::new("models/silero_vad.onnx")).unwrap_or_else(|e| panic!("{e}"));
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        assert_eq!(inputs, ["input", "state", "sr"]);
    }

    #[test]
    fn concurrent_init_yields_one_environment() {
        let ptrs: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| env() as *const Environment as usize))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ptrs.windows(2).all(|w| w[0] == w[1]), "{ptrs:?}");
    }

    #[test]
    fn missing_files_name_the_installer() {
        let err = find_runtime(&OnnxConfig {
            runtime_path: Some("/nonexistent/libonnxruntime.so".into()),
            intra_threads: 0,
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/nonexistent/libonnxruntime.so") && err.contains("install-models.sh"),
            "{err}"
        );
        let err = session(Path::new("models/no-such-model.onnx"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no-such-model.onnx") && err.contains("install-models.sh"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_are_searched_from_the_workspace() {
        let found = locate(&default_runtime_relative()).unwrap_or_else(|searched| {
            panic!("runtime not installed (run scripts/install-models.sh); searched {searched:?}")
        });
        assert!(found.is_file());
        let abs = Path::new("/definitely/not/here.onnx");
        assert_eq!(locate(abs).unwrap_err(), vec![abs.to_path_buf()]);
    }
}
