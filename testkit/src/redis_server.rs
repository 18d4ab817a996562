//! A real Redis server of the test's own, on a free loopback port, that the test can kill and
//! start again (the machine's shared Redis cannot be restarted under other tests' feet); over
//! TLS alone if the test asks.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::redis_tls::RedisTlsFiles;

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    tls: Option<RedisTlsFiles>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Serving TLS only (`--port 0 --tls-port`), with these certificates.
    pub fn start_tls(tls: RedisTlsFiles) -> Self {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<RedisTlsFiles>) -> Self {
        let port = crate::free_port();
        let mut server = Self { port, child: None, tls };
        server.resume();
        server
    }

    /// `redis://` or, over TLS, `rediss://`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Its TLS files, when it serves TLS.
    pub fn tls(&self) -> Option<&RedisTlsFiles> {
        self.tls.as_ref()
    }

    /// What a service is started with to use it: `--redis-url` and the TLS files.
    pub fn service_args(&self) -> Vec<String> {
        let mut args = vec![format!("--redis-url={}", self.url())];
        args.extend(self.tls.iter().flat_map(RedisTlsFiles::service_args));
        args
    }

    /// Kills it (SIGKILL: clients see their connections drop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, empty, and waits until it answers.
    pub fn resume(&mut self) {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(tls) => command.args(["--port", "0", "--tls-port", &port]).args(tls.server_args()),
        };
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see ../shared/SERVICES.md)");
        self.child = Some(child);
        wait_until_answers(self.port, self.tls.as_ref());
    }
}

/// Waits until the Redis server on `port` answers PING (10 s at most); over TLS, as `redis-cli`
/// with these files sees it.
pub(crate) fn wait_until_answers(port: u16, tls: Option<&RedisTlsFiles>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(tls) = tls {
            let answer = Command::new("redis-cli")
                .args(tls.cli_args())
                .args(["-p", &port.to_string(), "PING"])
                .stderr(Stdio::null())
                .output()
                .expect("redis-cli must be installed (see ../shared/SERVICES.md)");
            if answer.stdout.starts_with(b"PONG") {
                return;
            }
        } else if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let mut buf = [0u8; 16];
            if stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut buf).is_ok() && buf.starts_with(b"+PONG") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server on port {port} did not answer within 10 s");
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
