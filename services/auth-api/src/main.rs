use std::process::ExitCode;

use auth_api::config::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = shared::config::parse_or_exit();
    let _telemetry = match shared::telemetry::init("auth-api", cli.common.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(err) => shared::config::exit_with_config_error(&err),
    };
    shared::run_main(auth_api::run(cli)).await
}
