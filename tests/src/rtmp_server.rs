//! A local RTMP server for push tests: nginx with its RTMP module, in the foreground, with a
//! private prefix, config, pid file and logs, on a port of our choosing. Killed on drop.
//!
//! `stop()` and `start()` again on the same port simulate a platform's ingest going away and
//! coming back.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

/// Where Debian/Ubuntu put the RTMP module (libnginx-mod-rtmp).
const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/nginx/modules/ngx_rtmp_module.so",
    "/usr/share/nginx/modules/ngx_rtmp_module.so",
];

/// One nginx-rtmp instance serving `rtmp://127.0.0.1:PORT/live/KEY`.
pub struct RtmpServer {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl RtmpServer {
    /// Starts nginx on a free port and waits until it accepts connections.
    pub fn start() -> Result<Self> {
        Self::start_on(crate::free_port()?)
    }

    /// Starts nginx on `port`.
    pub fn start_on(port: u16) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("e2e-rtmp-").tempdir()?;
        let mut this = Self {
            dir,
            port,
            child: None,
        };
        this.restart()?;
        Ok(this)
    }

    /// The port nginx listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtmp://127.0.0.1:PORT/live` (the "server" of a target; the key is the stream name).
    pub fn server_url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/live", self.port)
    }

    /// The URL a player reads stream `key` from.
    pub fn play_url(&self, key: &str) -> String {
        format!("{}/{key}", self.server_url())
    }

    /// nginx's error log (connections, publishes).
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Kills nginx (every connection drops at once, as when an ingest server dies).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts nginx on the same port and waits until it accepts connections.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let module = MODULE_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .context(
                "nginx's RTMP module is not installed (libnginx-mod-rtmp; scripts/install-deps.sh)",
            )?;
        let dir = self.dir.path();
        fs::write(dir.join("nginx.conf"), config(module, dir, self.port))?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .context("spawning nginx (install nginx: scripts/install-deps.sh)")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // The port may still be held for a moment after a kill; nginx retries binding itself.
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let stderr = fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
                bail!("nginx exited with {status}: {stderr}{}", self.error_log());
            }
            if Instant::now() > deadline {
                bail!("nginx did not listen on port {} within 10 s", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The private directory (config, logs).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for RtmpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(module: &Path, dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "load_module {module};\n\
         daemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         rtmp {{ server {{ listen 127.0.0.1:{port}; \
         application live {{ live on; record off; }} }} }}\n\
         http {{ access_log off; client_body_temp_path {d}/tmp_body; \
         proxy_temp_path {d}/tmp_proxy; fastcgi_temp_path {d}/tmp_fcgi; \
         uwsgi_temp_path {d}/tmp_uwsgi; scgi_temp_path {d}/tmp_scgi; }}\n",
        module = module.display(),
    )
}
