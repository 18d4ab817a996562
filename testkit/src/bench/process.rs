//! A server a benchmark starts (a release binary of the suite, the Socket.IO peer), killed
//! when dropped.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Process(Child);

impl Process {
    /// Starts `bin` listening on `port` (`LISTEN_ADDR`) and waits until it accepts connections.
    pub fn start(bin: &str, port: u16, envs: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.env("LISTEN_ADDR", format!("127.0.0.1:{port}")).env("RUST_LOG", "warn");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Self::spawn(cmd, port)
    }

    /// Starts `cmd`, which listens on `port`, and waits until it accepts connections.
    pub fn spawn(mut cmd: Command, port: u16) -> Self {
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        let process = Self(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}")));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{program} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        process
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status.lines().find_map(|line| line.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok()).unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
