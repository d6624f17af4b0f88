//! Statements sent together, one statement per protocol message. Every statement travels by the
//! extended query protocol (Parse, Bind, Describe, Execute, Sync): PostgreSQL itself refuses a
//! Parse whose text holds more than one command ("cannot insert multiple commands into a
//! prepared statement"), so a foreign text can never smuggle a second statement in, whatever
//! its quoting means under the server's settings. Values travel as bound parameters, never
//! spliced into text.
//!
//! Several statements still share one round trip: each is written to the connection, in order,
//! before any answer is awaited (tokio-postgres sends a request when its future is first polled,
//! and [`run`] polls them in order). Each statement ends with its own Sync, so outside a
//! transaction block a failing statement does not stop the next; inside `BEGIN … ROLLBACK`
//! PostgreSQL refuses every statement after the first error until the ROLLBACK, which is what
//! units (pg/unit.rs) rely on.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    TextArray(Vec<String>),
    Bool(bool),
    Int4(i32),
}

impl Param {
    fn typed(&self) -> (&(dyn ToSql + Sync), Type) {
        match self {
            Param::Text(v) => (v, Type::TEXT),
            Param::TextArray(v) => (v, Type::TEXT_ARRAY),
            Param::Bool(v) => (v, Type::BOOL),
            Param::Int4(v) => (v, Type::INT4),
        }
    }

    fn value(&self) -> &(dyn ToSql + Sync) {
        self.typed().0
    }
}

/// What a step runs: a text (parsed anew) or a statement prepared on this connection.
#[derive(Debug, Clone)]
pub enum Sql {
    Text(String),
    Prepared(Statement),
}

/// One statement and its parameters.
#[derive(Debug, Clone)]
pub struct Step {
    pub sql: Sql,
    pub params: Vec<Param>,
}

impl Step {
    pub fn new(sql: impl Into<String>) -> Step {
        Step {
            sql: Sql::Text(sql.into()),
            params: Vec::new(),
        }
    }

    pub fn prepared(statement: Statement) -> Step {
        Step {
            sql: Sql::Prepared(statement),
            params: Vec::new(),
        }
    }

    pub fn param(mut self, p: Param) -> Step {
        self.params.push(p);
        self
    }

    pub fn params(mut self, ps: impl IntoIterator<Item = Param>) -> Step {
        self.params.extend(ps);
        self
    }

    /// The text, for messages and tests.
    pub fn text(&self) -> &str {
        match &self.sql {
            Sql::Text(t) => t,
            Sql::Prepared(_) => "<prepared statement>",
        }
    }
}

/// A step's rows, or why it failed.
pub type Answer = Result<Vec<Row>, tokio_postgres::Error>;

async fn one(client: &Client, step: &Step) -> Answer {
    match &step.sql {
        Sql::Text(text) => {
            let params: Vec<(&(dyn ToSql + Sync), Type)> =
                step.params.iter().map(Param::typed).collect();
            client.query_typed(text, &params).await
        }
        Sql::Prepared(statement) => {
            let params: Vec<&(dyn ToSql + Sync)> = step.params.iter().map(Param::value).collect();
            client.query(statement, &params).await
        }
    }
}

/// Runs `steps` in one round trip and returns each one's answer, in order.
pub async fn run(client: &Client, steps: &[Step]) -> Vec<Answer> {
    type Pending<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;
    let mut pending: Vec<Option<Pending<'_>>> = steps
        .iter()
        .map(|s| Some(Box::pin(one(client, s)) as Pending<'_>))
        .collect();
    let mut answers: Vec<Option<Answer>> = (0..steps.len()).map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        // In index order, every time: the first poll writes the requests in order.
        for (slot, answer) in pending.iter_mut().zip(answers.iter_mut()) {
            if let Some(fut) = slot {
                if let Poll::Ready(a) = fut.as_mut().poll(cx) {
                    *answer = Some(a);
                    *slot = None;
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(answers.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}
