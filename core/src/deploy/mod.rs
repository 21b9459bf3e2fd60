//! Many push and load operations at once (`multi_deploy`): bounded parallelism, one combined
//! summary, and every operation runs to its end even when another fails. What push and load
//! both read, the image a request names, is [`image`].

pub mod image;

use std::fmt;

use futures::stream::{self, StreamExt};

use crate::load::{self, LoadOptions};
use crate::registry::push::{self, PushOptions};

/// One operation of a deployment.
pub enum Operation {
    Push(PushOptions),
    Load(LoadOptions),
}

impl Operation {
    fn describe(&self) -> String {
        match self {
            Operation::Push(options) => format!("push {}", options.request.display()),
            Operation::Load(options) => format!("load {}", options.request.display()),
        }
    }

    async fn run(&self) -> Result<String, String> {
        match self {
            Operation::Push(options) => push::push(options).await.map(|r| r.to_string()).map_err(|e| e.to_string()),
            Operation::Load(options) => load::load(options).await.map(|s| s.to_string()).map_err(|e| e.to_string()),
        }
    }
}

/// What one operation did: its summary, or why it failed.
pub struct Outcome {
    pub operation: String,
    pub result: Result<String, String>,
}

/// What a deployment did, in the order the operations were given.
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_err()).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for outcome in &self.outcomes {
            match &outcome.result {
                Ok(summary) => {
                    writeln!(f, "ok      {}\n        {}", outcome.operation, summary.replace('\n', "\n        "))?
                }
                Err(error) => {
                    writeln!(f, "FAILED  {}\n        {}", outcome.operation, error.replace('\n', "\n        "))?
                }
            }
        }
        let total = self.outcomes.len();
        write!(f, "img deploy: {} of {total} operations succeeded, {} failed", total - self.failed(), self.failed())
    }
}

/// Runs every operation, at most `jobs` at a time; never stops early.
pub async fn deploy(operations: Vec<Operation>, jobs: usize) -> Report {
    let mut outcomes: Vec<(usize, Outcome)> = stream::iter(operations.iter().enumerate())
        .map(|(index, operation)| async move {
            let result = operation.run().await;
            (index, Outcome { operation: operation.describe(), result })
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|(index, _)| *index);
    Report { outcomes: outcomes.into_iter().map(|(_, outcome)| outcome).collect() }
}
