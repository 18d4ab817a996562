//! A real Redis server of the test's own, on a free loopback port, that the test can kill and
//! start again (the machine's shared Redis cannot be restarted under other tests' feet).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = crate::free_port();
        let mut server = Self { port, child: None };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see ../shared/SERVICES.md)");
        self.child = Some(child);
        wait_until_answers(self.port);
    }
}

/// Waits until the Redis server on `port` answers PING (10 s at most).
pub(crate) fn wait_until_answers(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
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
