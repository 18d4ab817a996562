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
        let mut server = Self { port: crate::free_port(), child: None, tls };
        // A free port may be taken by another test's server before this one binds it: the
        // server then exits at once, and a port of its own is tried.
        while !server.run() {
            server.port = crate::free_port();
        }
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
        assert!(self.run(), "redis-server could not start again on port {} (taken meanwhile?)", self.port);
    }

    /// Starts it on its port; false when it exited instead of answering (the port was taken).
    fn run(&mut self) -> bool {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(tls) => command.args(["--port", "0", "--tls-port", &port]).args(tls.server_args()),
        };
        let mut child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see ../shared/SERVICES.md)");
        let answered = wait_until_answers(self.port, self.tls.as_ref(), &mut child);
        self.child = Some(child);
        answered
    }
}

/// Waits until the Redis server `child` on `port` answers PING (10 s at most); over TLS, as
/// `redis-cli` with these files sees it. False when the server exited first (its port was
/// taken). Whatever else answers on the port is not waited for: a read that hangs (another
/// program's listener that says nothing) times out.
pub(crate) fn wait_until_answers(port: u16, tls: Option<&RedisTlsFiles>, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if let Some(tls) = tls {
            let answer = Command::new("redis-cli")
                .args(tls.cli_args())
                .args(["-p", &port.to_string(), "PING"])
                .stderr(Stdio::null())
                .output()
                .expect("redis-cli must be installed (see ../shared/SERVICES.md)");
            if answer.stdout.starts_with(b"PONG") {
                return true;
            }
        } else if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let mut buf = [0u8; 16];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            if stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut buf).is_ok() && buf.starts_with(b"+PONG") {
                return true;
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
