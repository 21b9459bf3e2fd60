//! What `img push` and `img pull` show while they work: bars on a terminal, one line per
//! finished blob otherwise (CI logs), or nothing (`IMG_PROGRESS=none`).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bars,
    Lines,
    Quiet,
}

impl ProgressMode {
    /// `IMG_PROGRESS` = `bar` | `log` | `none` | `auto` (the default: bars when stderr is a terminal).
    pub fn from_env() -> Self {
        match std::env::var("IMG_PROGRESS").unwrap_or_default().as_str() {
            "bar" => ProgressMode::Bars,
            "log" => ProgressMode::Lines,
            "none" => ProgressMode::Quiet,
            _ if std::io::stderr().is_terminal() => ProgressMode::Bars,
            _ => ProgressMode::Lines,
        }
    }
}

/// The progress display of one command.
pub struct Progress {
    mode: ProgressMode,
    multi: MultiProgress,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        let target =
            if mode == ProgressMode::Bars { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        Self { mode, multi: MultiProgress::with_draw_target(target) }
    }

    /// A bar for one blob of `size` bytes (hidden unless bars are shown).
    pub fn blob(&self, label: &str, size: u64) -> ProgressBar {
        if self.mode != ProgressMode::Bars {
            return ProgressBar::hidden();
        }
        let style =
            ProgressStyle::with_template("{msg:24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}")
                .expect("a valid progress template")
                .progress_chars("=> ");
        let bar = self.multi.add(ProgressBar::new(size).with_style(style));
        bar.set_message(label.to_owned());
        bar
    }

    /// Reports that a blob is done: the bar ends, or a line is printed.
    pub fn done(&self, bar: &ProgressBar, line: &str) {
        match self.mode {
            ProgressMode::Bars => {
                bar.finish_and_clear();
                let _ = self.multi.println(line);
            }
            ProgressMode::Lines => eprintln!("{line}"),
            ProgressMode::Quiet => {}
        }
    }
}

/// `12.3 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}
