//! chat-gateway is not built yet: it has its own issue. Until then this binary says so and exits
//! non-zero rather than pretend to serve.

fn main() -> std::process::ExitCode {
    eprintln!("chat-gateway: not built yet; run auth-api, or chat-suite for everything that exists");
    std::process::ExitCode::from(2)
}
