//! A tiny Starlark code model and a printer whose output is already in buildifier's format,
//! so generated Bazel files pass `buildifier --mode=check` and both systems read alike.

use std::fmt::Write;

/// A Starlark expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Code {
    /// Printed as is: names, numbers, operators the printer never breaks.
    Raw(String),
    /// A string literal.
    Str(String),
    /// `func(arg, name = value, ...)`.
    Call(String, Vec<Arg>),
    List(Vec<Code>),
    Dict(Vec<(Code, Code)>),
}

/// Which file type's line-breaking rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bzl,
    Build,
}

/// A call argument, positional or keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<String>,
    pub value: Code,
}

/// Lines printed on one line are kept when they fit in this width.
const WIDTH: usize = 100;

pub fn raw(text: impl Into<String>) -> Code {
    Code::Raw(text.into())
}

pub fn string(text: impl Into<String>) -> Code {
    Code::Str(text.into())
}

pub fn call(func: impl Into<String>, args: Vec<Arg>) -> Code {
    Code::Call(func.into(), args)
}

pub fn pos(value: Code) -> Arg {
    Arg { name: None, value }
}

pub fn kw(name: impl Into<String>, value: Code) -> Arg {
    Arg { name: Some(name.into()), value }
}

pub fn list(items: Vec<Code>) -> Code {
    Code::List(items)
}

pub fn dict(items: Vec<(Code, Code)>) -> Code {
    Code::Dict(items)
}

pub fn string_list<S: AsRef<str>>(items: &[S]) -> Code {
    Code::List(items.iter().map(|s| string(s.as_ref())).collect())
}

/// Quotes a string the way buildifier prints it.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Code {
    /// The expression on one line.
    pub fn flat(&self) -> String {
        match self {
            Code::Raw(text) => text.clone(),
            Code::Str(text) => quote(text),
            Code::Call(func, args) => {
                let args: Vec<String> = args.iter().map(Arg::flat).collect();
                format!("{func}({})", args.join(", "))
            }
            Code::List(items) => {
                let items: Vec<String> = items.iter().map(Code::flat).collect();
                format!("[{}]", items.join(", "))
            }
            Code::Dict(items) => {
                let items: Vec<String> = items.iter().map(|(k, v)| format!("{}: {}", k.flat(), v.flat())).collect();
                format!("{{{}}}", items.join(", "))
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Code::Raw(_) | Code::Str(_) => 1,
            Code::Call(_, args) => args.len(),
            Code::List(items) => items.len(),
            Code::Dict(items) => items.len(),
        }
    }

    /// Whether the expression may be printed on one line. Calls and collections with more than
    /// one item, or with a multi-line item, are broken whenever they do not fit.
    fn breakable(&self) -> bool {
        match self {
            Code::Raw(_) | Code::Str(_) => false,
            Code::Call(_, args) => !args.is_empty(),
            Code::List(items) => !items.is_empty(),
            Code::Dict(items) => !items.is_empty(),
        }
    }

    /// Prints the expression starting at column `indent` (the first line is not indented).
    pub fn print(&self, indent: usize) -> String {
        self.print_styled(indent, Style::Bzl)
    }

    /// Prints with the line-breaking rules of a file type: buildifier keeps short `.bzl`
    /// expressions on one line but breaks every call or collection of two or more items in
    /// BUILD and MODULE files.
    pub fn print_styled(&self, indent: usize, style: Style) -> String {
        let flat = self.flat();
        let forced = style == Style::Build && self.len() >= 2;
        if !self.breakable() || (!forced && indent + flat.len() <= WIDTH && !flat.contains('\n')) {
            return flat;
        }
        let inner = " ".repeat(indent + 4);
        let closing = " ".repeat(indent);
        let mut out = String::new();
        match self {
            Code::Call(func, args) => {
                let _ = writeln!(out, "{func}(");
                for arg in args {
                    let value = arg.value.print_styled(indent + 4, style);
                    // buildifier writes no comma after `**kwargs`.
                    let comma = if value.starts_with("**") { "" } else { "," };
                    match &arg.name {
                        Some(name) => {
                            let _ = writeln!(out, "{inner}{name} = {value}{comma}");
                        }
                        None => {
                            let _ = writeln!(out, "{inner}{value}{comma}");
                        }
                    }
                }
                let _ = write!(out, "{closing})");
            }
            Code::List(items) => {
                out.push_str("[\n");
                for item in items {
                    let _ = writeln!(out, "{inner}{},", item.print_styled(indent + 4, style));
                }
                let _ = write!(out, "{closing}]");
            }
            Code::Dict(items) => {
                out.push_str("{\n");
                for (key, value) in items {
                    let _ = writeln!(out, "{inner}{}: {},", key.flat(), value.print_styled(indent + 4, style));
                }
                let _ = write!(out, "{closing}}}");
            }
            Code::Raw(_) | Code::Str(_) => unreachable!("not breakable"),
        }
        out
    }
}

impl Arg {
    fn flat(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} = {}", self.value.flat()),
            None => self.value.flat(),
        }
    }
}

/// A Starlark source file being written.
#[derive(Debug)]
pub struct Source {
    text: String,
    style: Style,
}

impl Default for Source {
    fn default() -> Source {
        Source { text: String::new(), style: Style::Bzl }
    }
}

impl Source {
    pub fn new() -> Source {
        Source::default()
    }

    /// A BUILD or MODULE file.
    pub fn build_file() -> Source {
        Source { text: String::new(), style: Style::Build }
    }

    /// A line of text at an indentation level (4 spaces each).
    pub fn line(&mut self, level: usize, text: &str) {
        if !text.is_empty() {
            self.text.push_str(&" ".repeat(level * 4));
            self.text.push_str(text);
        }
        self.text.push('\n');
    }

    pub fn blank(&mut self) {
        self.text.push('\n');
    }

    /// `target = value` (or a bare expression when `target` is empty) at `level`.
    pub fn assign(&mut self, level: usize, target: &str, value: &Code) {
        let lead = match target {
            "" => String::new(),
            "return" => "return ".to_string(),
            _ => format!("{target} = "),
        };
        let printed = value.print_styled(level * 4 + lead.len(), self.style);
        // A broken expression's later lines are indented from the statement, not the `=`.
        let printed = if lead.is_empty() || !printed.contains('\n') {
            printed
        } else {
            value.print_styled(level * 4, self.style)
        };
        self.line(level, &format!("{lead}{printed}"));
    }

    /// A `"""docstring"""` at `level`; long text is kept on its lines as given.
    pub fn docstring(&mut self, level: usize, text: &str) {
        let escaped = text.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
        let mut lines = escaped.lines();
        let first = lines.next().unwrap_or("");
        let rest: Vec<&str> = lines.collect();
        if rest.is_empty() {
            self.line(level, &format!("\"\"\"{first}\"\"\""));
        } else {
            self.line(level, &format!("\"\"\"{first}"));
            for line in rest {
                self.line(if line.is_empty() { 0 } else { level }, line);
            }
            self.line(level, "\"\"\"");
        }
    }

    /// The text as written, trailing blank lines included.
    pub fn into_raw(self) -> String {
        self.text
    }

    /// The text without trailing blank lines.
    pub fn finish(mut self) -> String {
        while self.text.ends_with("\n\n") {
            self.text.pop();
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_calls_stay_on_one_line() {
        let code = call("attr.string", vec![kw("default", string("auto"))]);
        assert_eq!(code.print(8), "attr.string(default = \"auto\")");
    }

    #[test]
    fn long_calls_break_one_argument_per_line_with_trailing_commas() {
        let long = "x".repeat(90);
        let code = call("f", vec![kw("doc", string(&long)), kw("mandatory", raw("True"))]);
        assert_eq!(code.print(0), format!("f(\n    doc = \"{long}\",\n    mandatory = True,\n)"));
    }

    #[test]
    fn quotes_escape_what_starlark_needs() {
        assert_eq!(quote("a\"b\\c\nd\0"), "\"a\\\"b\\\\c\\nd\\0\"");
    }
}
