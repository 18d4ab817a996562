use std::process::ExitCode;

use chat_gateway::config::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = shared::config::parse_or_exit();
    let _telemetry = match shared::telemetry::init("chat-gateway", cli.common.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(err) => shared::config::exit_with_config_error(&err),
    };
    shared::run_main(chat_gateway::run(cli)).await
}
