use std::process::ExitCode;

use notifier::config::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = shared::config::parse_or_exit();
    let _telemetry = match shared::telemetry::init("notifier", cli.common.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(err) => shared::config::exit_with_config_error(&err),
    };
    shared::run_main(notifier::run(cli)).await
}
