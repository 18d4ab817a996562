//! What a configuration that cannot work looks like to an operator: one line naming the
//! variable and what is wrong with it, and exit status 2, whether clap refused a value or a
//! service found the problem after parsing (a file it cannot read, settings that do not go
//! together).

use std::fmt;

use clap::{
    Parser,
    error::{ContextKind, ContextValue, ErrorKind},
};

use crate::redact::redacted;

/// A configuration problem found after parsing (a file that cannot be read, a combination
/// that cannot work). Printed as the same one line as a parse error.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: std::borrow::Cow<'static, str>,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self { variable: variable.into(), reason: reason.into() }
    }

    /// From a message that names its variable first (`VARIABLE: reason`), as the code that
    /// reads one setting's file says it.
    pub fn stated(message: &str) -> Self {
        match message.split_once(": ") {
            Some((variable, reason))
                if !variable.is_empty()
                    && variable.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Self { variable: variable.to_owned().into(), reason: reason.to_owned() }
            }
            _ => Self { variable: "configuration".into(), reason: message.to_owned() },
        }
    }
}

/// Parses the command line and environment, or exits: `--help` and `--version` print as usual,
/// anything else wrong prints one line (`BIN: invalid configuration: VARIABLE …`) and exits 2.
pub fn parse_or_exit<T: Parser>() -> T {
    match T::try_parse() {
        Ok(config) => config,
        Err(err) => exit_on_clap_error(err),
    }
}

fn exit_on_clap_error(err: clap::Error) -> ! {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            err.exit()
        }
        _ => exit_with_config_error(&one_line(&err)),
    }
}

/// Prints one line naming what is wrong and exits with status 2.
pub fn exit_with_config_error(message: &dyn fmt::Display) -> ! {
    let bin = std::env::args().next().unwrap_or_default();
    let bin = bin.rsplit('/').next().unwrap_or("chat-suite");
    eprintln!("{bin}: invalid configuration: {message}");
    std::process::exit(2)
}

/// Clap's own message spans several lines and names the flag; operators set variables, so
/// name the variable (clap's value name, which we keep equal to it) and the flag beside it.
pub(crate) fn one_line(err: &clap::Error) -> String {
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    if let (Some(arg), Some(value)) = (context(ContextKind::InvalidArg), context(ContextKind::InvalidValue)) {
        let variable = arg
            .split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(name, _)| name.to_owned())
            .unwrap_or_else(|| arg.clone());
        let flag = arg.split_whitespace().next().unwrap_or_default();
        let reason = std::error::Error::source(err)
            .map(|source| source.to_string())
            .unwrap_or_else(|| "not an accepted value".into());
        return format!("{variable} ({flag}) = {:?}: {reason}", redacted(&value));
    }
    err.to_string()
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("unreadable arguments")
        .trim_start_matches("error: ")
        .to_owned()
}
