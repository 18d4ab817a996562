//! A real Kafka-protocol broker (tansu, in-memory storage) of the test's own, on a free
//! loopback port, that the test can stop and start again, in plaintext or behind TLS; and a
//! consumer that reads what the relay published. `scripts/test` installs tansu and sets
//! `TANSU_BIN`.
//!
//! No SASL: tansu 0.6 offers SCRAM alone (its PLAIN is not built in), and on in-memory storage
//! no SCRAM user can be made once authentication is required, since making one takes an
//! authenticated client.

use std::{
    collections::HashMap,
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, Message,
    consumer::{BaseConsumer, Consumer},
    message::Headers,
};
use serde_json::Value;

use crate::{free_port, tls_front::TlsFront};

/// librdkafka 2.12 can crash (a NULL topic name in its metadata cache) on the newest
/// Metadata replies tansu gives; the API versions of Kafka 2.6 avoid them. Clients of the
/// tests' brokers, the relay's included (`KAFKA_PROPERTIES`), use these.
pub const CLIENT_PROPERTIES: [(&str, &str); 2] =
    [("api.version.request", "false"), ("broker.version.fallback", "2.6.0")];

pub struct Broker {
    /// Where clients connect: the broker itself, or the TLS in front of it.
    pub port: u16,
    /// tansu's own port (the same as `port` without TLS).
    broker_port: u16,
    tls: Option<TlsFront>,
    child: Option<Child>,
}

/// `key=value` pairs as `KAFKA_PROPERTIES` wants them.
pub fn as_kafka_properties(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn tansu_bin() -> String {
    std::env::var("TANSU_BIN").unwrap_or_else(|_| {
        let cached = format!("{}/.cache/chat-suite/tansu/bin/tansu", std::env::var("HOME").unwrap_or_default());
        if std::path::Path::new(&cached).exists() { cached } else { "tansu".into() }
    })
}

impl Broker {
    /// Plaintext.
    pub fn start() -> Self {
        let port = free_port();
        Self::start_on(port, port, None)
    }

    /// Behind TLS, with a certificate of a CA made for the test (`client_properties` trust it).
    pub fn start_tls() -> Self {
        let (port, broker_port) = (free_port(), free_port());
        Self::start_on(port, broker_port, Some(TlsFront::start(port, broker_port)))
    }

    fn start_on(port: u16, broker_port: u16, tls: Option<TlsFront>) -> Self {
        let mut broker = Self { port, broker_port, tls, child: None };
        broker.resume();
        broker
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The librdkafka properties a client of this broker needs: `CLIENT_PROPERTIES`, and
    /// TLS with the test's CA when the broker is behind it.
    pub fn client_properties(&self) -> Vec<(String, String)> {
        let mut properties: Vec<(String, String)> =
            CLIENT_PROPERTIES.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if let Some(tls) = &self.tls {
            properties.push(("security.protocol".into(), "SSL".into()));
            properties.push(("ssl.ca.location".into(), tls.ca_file.display().to_string()));
        }
        properties
    }

    /// TLS handshakes that failed (0 without TLS).
    pub fn refused_handshakes(&self) -> usize {
        self.tls.as_ref().map_or(0, TlsFront::refused_handshakes)
    }

    /// `client_properties` as `KAFKA_PROPERTIES` wants them.
    pub fn kafka_properties(&self) -> String {
        as_kafka_properties(&self.client_properties())
    }

    /// Kills the broker (SIGKILL: no goodbye to the clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, with empty storage.
    pub fn resume(&mut self) {
        let listen = format!("tcp://127.0.0.1:{}", self.broker_port);
        // Behind TLS, clients are told to come back through it.
        let advertised = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &listen, "--advertised-listener-url", &advertised])
            .args(["--storage-engine", "memory://tansu/"])
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("STORAGE_ENGINE")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            // Its log beside the app's when `TEST_LOG` is set.
            .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start tansu ({}): {e}; run scripts/test, which installs it", tansu_bin())
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.broker_port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {} within 30 s", self.broker_port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One record as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub headers: HashMap<String, String>,
    pub value: Value,
}

pub struct Reader {
    consumer: BaseConsumer,
}

impl Reader {
    pub fn new(broker: &Broker, topic: &str) -> Self {
        let mut config = ClientConfig::new();
        for (key, value) in broker.client_properties() {
            config.set(key, value);
        }
        let consumer: BaseConsumer = config
            .set("bootstrap.servers", broker.address())
            .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        Self { consumer }
    }

    /// `read` off the async runtime, whose workers serve the app under test.
    pub async fn read_async(self: &std::sync::Arc<Self>, wanted: usize, patience: Duration) -> Vec<Record> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.read(wanted, patience)).await.unwrap()
    }

    /// Reads until `wanted` records have arrived or `patience` passes, whichever is first.
    pub fn read(&self, wanted: usize, patience: Duration) -> Vec<Record> {
        let deadline = Instant::now() + patience;
        let mut records = Vec::new();
        while records.len() < wanted && Instant::now() < deadline {
            let Some(message) = self.consumer.poll(Duration::from_millis(200)) else { continue };
            let Ok(message) = message else { continue };
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|header| {
                            (
                                header.key.to_owned(),
                                String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push(Record {
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                headers,
                value: serde_json::from_slice(message.payload().unwrap_or_default()).unwrap_or(Value::Null),
            });
        }
        records
    }
}
