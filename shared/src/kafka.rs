//! Where notification events go in Kafka, and how a client reaches the brokers: the settings
//! the outbox relay publishes with, apart from the relay, so that a consumer of the same topic
//! reads the same variables and makes its clients the same way.

use rdkafka::ClientConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct KafkaSettings {
    /// Kafka bootstrap servers, comma separated (host:port,…). Unset: events wait in the outbox.
    #[arg(long, env = "KAFKA_BROKERS", value_parser = parse_brokers)]
    pub kafka_brokers: Option<String>,

    /// The topic notification events go to.
    #[arg(long, env = "NOTIFICATIONS_TOPIC", default_value = "received_messages")]
    pub notifications_topic: String,

    /// Partitions of the topic when the relay has to create it.
    #[arg(long, env = "NOTIFICATIONS_TOPIC_PARTITIONS", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub notifications_topic_partitions: i32,

    /// Replication factor of the topic when the relay has to create it.
    #[arg(long, env = "NOTIFICATIONS_TOPIC_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=16))]
    pub notifications_topic_replication: i32,

    /// Extra librdkafka properties for the producer, `key=value` separated by commas (for
    /// example `security.protocol=ssl`).
    #[arg(long, env = "KAFKA_PROPERTIES", value_parser = parse_properties, default_value = "")]
    pub kafka_properties: KafkaProperties,
}

impl KafkaSettings {
    /// The configuration of a client of `brokers`: `own` is what the client is (a producer's
    /// acknowledgements, a consumer's group), and KAFKA_PROPERTIES come last, so an operator
    /// can override any of it. librdkafka checks the result only when a client is made from it.
    pub fn client_config(&self, brokers: &str, own: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            // OpenSSL's default CA directory is where it was built to look, which is not
            // always where the system keeps its CAs (macOS, a self-built OpenSSL): probe, so a
            // broker with a public certificate is trusted as in any other client.
            // `ssl.ca.location` in KAFKA_PROPERTIES overrides.
            .set("ssl.ca.location", "probe");
        for (key, value) in own.iter().copied().chain(self.kafka_properties.pairs()) {
            config.set(key, value);
        }
        config
    }
}

/// `key=value` pairs handed to librdkafka as they are. They may hold a password
/// (`sasl.password`), so `Debug` shows those as `***`.
#[derive(Clone, Default)]
pub struct KafkaProperties(pub Vec<(String, String)>);

impl KafkaProperties {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

impl std::fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs = self.0.iter().map(|(key, value)| crate::redact::redacted(&format!("{key}={value}")));
        f.debug_list().entries(pairs).finish()
    }
}

fn parse_properties(raw: &str) -> Result<KafkaProperties, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .enumerate()
        .map(|(i, pair)| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.trim().to_owned())),
            // Not shown: it may be the part of a password after a comma.
            _ => Err(format!("expected key=value[,key=value…]; pair {} is not (a value cannot hold a comma)", i + 1)),
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(key, value)| readable_location(&key, &value).map(|()| (key, value)))
        .collect::<Result<_, _>>()
        .map(KafkaProperties)
}

/// librdkafka's own message for a CA or key file it cannot read is OpenSSL's ("BIO lib");
/// the path and the operating system's reason say more. `probe` asks librdkafka to look in
/// the usual places.
fn readable_location(key: &str, value: &str) -> Result<(), String> {
    if !key.ends_with(".location") || value == "probe" {
        return Ok(());
    }
    std::fs::metadata(value).map(|_| ()).map_err(|e| format!("{key}: cannot read {value}: {e}"))
}

fn parse_brokers(raw: &str) -> Result<String, String> {
    let valid = |broker: &str| {
        broker.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    };
    if !raw.is_empty() && raw.split(',').map(str::trim).all(valid) {
        Ok(raw.to_owned())
    } else {
        Err("expected host:port[,host:port…]".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_key_value_pairs() {
        let parsed = parse_properties("a=1, b.c = x=y").unwrap();
        assert_eq!(parsed.0, [("a".to_owned(), "1".to_owned()), ("b.c".to_owned(), "x=y".to_owned())]);
        assert!(parse_properties("").unwrap().0.is_empty());
        assert!(parse_properties("novalue").is_err());
        assert_eq!(
            parse_properties("security.protocol=SSL,ssl.ca.location=/nonexistent/ca.pem").unwrap_err(),
            "ssl.ca.location: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)"
        );
        assert!(parse_properties("ssl.ca.location=probe").is_ok());
        // A password with a comma in it: its tail is not echoed.
        let err = parse_properties("sasl.username=relay,sasl.password=hunter,2").unwrap_err();
        assert_eq!(err, "expected key=value[,key=value…]; pair 3 is not (a value cannot hold a comma)");
        let secret = parse_properties("sasl.username=relay,sasl.password=hunter2").unwrap();
        assert_eq!(format!("{secret:?}"), r#"["sasl.username=relay", "sasl.password=***"]"#);
    }

    #[test]
    fn brokers_must_be_host_port_pairs() {
        assert!(parse_brokers("127.0.0.1:9092").is_ok());
        assert!(parse_brokers("kafka-0:9092, kafka-1:9092").is_ok());
        for bad in ["", "kafka", "kafka:port", ":9092", "a:1,"] {
            assert!(parse_brokers(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_operators_properties_override_the_clients_own() {
        let settings = KafkaSettings {
            kafka_brokers: None,
            notifications_topic: "t".into(),
            notifications_topic_partitions: 1,
            notifications_topic_replication: 1,
            kafka_properties: parse_properties("acks=1,ssl.ca.location=/dev/null,client.id=mine").unwrap(),
        };
        let config = settings.client_config("kafka:9092", &[("acks", "all"), ("linger.ms", "1")]);
        let expected = [
            ("bootstrap.servers", "kafka:9092"),
            ("ssl.ca.location", "/dev/null"),
            ("acks", "1"),
            ("linger.ms", "1"),
            ("client.id", "mine"),
        ];
        assert_eq!(config.config_map(), expected.into());
    }
}
