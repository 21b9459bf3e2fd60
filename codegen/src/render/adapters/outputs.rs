//! `--output NAME=PATH` pairs, checked against the outputs an action declares.

use std::fmt;

/// A problem with the `--output NAME=PATH` arguments of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputsError {
    /// The argument has no `=`.
    Malformed(String),
    /// The action does not declare an output with this name.
    Unknown { action: &'static str, name: String },
    /// The same output was given twice.
    Duplicate { action: &'static str, name: String },
    /// A required output is missing.
    Missing { action: &'static str, name: &'static str },
}

impl fmt::Display for OutputsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputsError::Malformed(arg) => write!(f, "--output {arg:?} is not of the form NAME=PATH"),
            OutputsError::Unknown { action, name } => write!(f, "`img {action}` has no output named {name:?}"),
            OutputsError::Duplicate { action, name } => write!(f, "`img {action}` got output {name:?} twice"),
            OutputsError::Missing { action, name } => write!(f, "`img {action}` needs --output {name}=PATH"),
        }
    }
}

impl std::error::Error for OutputsError {}

/// Splits `NAME=PATH` pairs.
pub fn split_pairs(args: &[String]) -> Result<Vec<(String, String)>, OutputsError> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((name, path)) if !name.is_empty() => Ok((name.to_string(), path.to_string())),
            _ => Err(OutputsError::Malformed(arg.clone())),
        })
        .collect()
}

/// Takes the output `name` out of `pairs`, once.
pub fn take(
    action: &'static str,
    pairs: &mut Vec<(String, String)>,
    name: &'static str,
) -> Result<Option<String>, OutputsError> {
    let mut found = None;
    let mut rest = Vec::with_capacity(pairs.len());
    for (key, path) in pairs.drain(..) {
        if key == name {
            if found.is_some() {
                return Err(OutputsError::Duplicate { action, name: key });
            }
            found = Some(path);
        } else {
            rest.push((key, path));
        }
    }
    *pairs = rest;
    Ok(found)
}

/// Takes the numbered outputs `name.0`, `name.1`, ... out of `pairs`, in order; the numbers must
/// run from 0 without gaps.
pub fn take_indexed(
    action: &'static str,
    pairs: &mut Vec<(String, String)>,
    name: &'static str,
) -> Result<Vec<String>, OutputsError> {
    let prefix = format!("{name}.");
    let mut numbered: Vec<(usize, String)> = Vec::new();
    let mut rest = Vec::with_capacity(pairs.len());
    for (key, path) in pairs.drain(..) {
        match key.strip_prefix(&prefix).map(str::parse::<usize>) {
            Some(Ok(number)) => numbered.push((number, path)),
            _ => rest.push((key, path)),
        }
    }
    *pairs = rest;
    numbered.sort_by_key(|(number, _)| *number);
    for (expected, (number, _)) in numbered.iter().enumerate() {
        if *number != expected {
            let name = format!("{name}.{expected}");
            return Err(if *number < expected {
                OutputsError::Duplicate { action, name }
            } else {
                OutputsError::Unknown { action, name: format!("{prefix}{number} (missing {name})") }
            });
        }
    }
    Ok(numbered.into_iter().map(|(_, path)| path).collect())
}

/// Fails on the first output no field took.
pub fn reject_unknown(action: &'static str, pairs: &[(String, String)]) -> Result<(), OutputsError> {
    match pairs.first() {
        Some((name, _)) => Err(OutputsError::Unknown { action, name: name.clone() }),
        None => Ok(()),
    }
}
