//! Exit codes (PRODUCT.md): 0 done, 1 other error, 2 usage, 3 no answer,
//! 4 authentication failure (or refused by the server), 5 not a printer.

/// Other error.
pub const OTHER: u8 = 1;
/// Usage: a wrong option, value or target; nothing was sent.
pub const USAGE: u8 = 2;
/// No answer.
pub const NO_ANSWER: u8 = 3;
/// Answered, but not a printer.
pub const NOT_A_PRINTER: u8 = 5;
/// Authentication failure.
pub const AUTH: u8 = 4;

/// An error with its exit code.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

/// An error that exits with `code`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> anyhow::Error {
    Exit(code, message.to_string()).into()
}

/// A usage error (exit 2).
pub fn usage(message: impl std::fmt::Display) -> anyhow::Error {
    fail(USAGE, message)
}
