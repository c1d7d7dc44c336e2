//! The connection pool: r2d2 with a manager whose connections remember their prepared
//! statements and search settings, so a search is one round trip.
//!
//! r2d2 would check every connection on checkout (an empty query: a second round trip per
//! search, measured at 824 against 1,063 QPS on one connection). It does not here: a read
//! that finds its connection closed by the server (a restart, an idle timeout) is tried again
//! on another ([`read`]), and writes — rare, and not to be sent twice — check theirs first
//! ([`checked`]).

use std::collections::HashMap;

use postgres::{Client, NoTls, Statement};

use crate::PgError;
use crate::error::reason;

/// One pooled connection.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: HashMap<String, Statement>,
    /// The session's `hnsw.ef_search` and whether index scans are off (exact search).
    settings: Option<(usize, bool)>,
}

impl Conn {
    /// `sql` prepared once per connection.
    pub(crate) fn prepare(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Sets ef_search and exactness for the session when they differ from what it has.
    pub(crate) fn settings(&mut self, ef: usize, exact: bool) -> Result<(), postgres::Error> {
        if self.settings != Some((ef, exact)) {
            self.client.batch_execute(&format!(
                "SET hnsw.ef_search = {ef}; SET enable_indexscan = {}",
                if exact { "off" } else { "on" }
            ))?;
            self.settings = Some((ef, exact));
        }
        Ok(())
    }

    /// Statements name tables; after a table is replaced they must be prepared again.
    pub(crate) fn forget_statements(&mut self) {
        self.statements.clear();
    }
}

pub(crate) struct Manager {
    pub(crate) config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        // Filtered HNSW scans go on until k rows pass (pgvector 0.8), results still in order.
        client.batch_execute("SET hnsw.iterative_scan = strict_order")?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            settings: None,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

pub(crate) type Pool = r2d2::Pool<Manager>;

/// A pool of `size` connections; the first is made here, so an unreachable server is an
/// error now, with the driver's reason, rather than a pool timeout later.
pub(crate) fn connect(config: &postgres::Config, size: u32, shown: &str) -> Result<Pool, PgError> {
    let manager = Manager { config: config.clone() };
    let first = r2d2::ManageConnection::connect(&manager).map_err(|e| PgError::Unreachable {
        location: shown.to_string(),
        reason: reason(&e),
    })?;
    drop(first);
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(std::time::Duration::from_secs(30))
        .test_on_check_out(false)
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build(manager)
        .map_err(|e| PgError::Unreachable {
            location: shown.to_string(),
            reason: e.to_string(),
        })
}

/// A connection for a write (or a statement that must not be sent twice): checked with an
/// empty query, replaced while the check fails (a pool of connections the server closed).
pub(crate) fn checked(pool: &Pool, shown: &str) -> Result<r2d2::PooledConnection<Manager>, PgError> {
    loop {
        let mut conn = checkout(pool, shown)?;
        match conn.client.simple_query("") {
            Ok(_) => return Ok(conn),
            // A closed connection is dropped by the pool when it comes back (`has_broken`).
            Err(_) if conn.client.is_closed() => continue,
            Err(error) => {
                return Err(PgError::Unreachable {
                    location: shown.to_string(),
                    reason: reason(&error),
                });
            }
        }
    }
}

/// `op` on a pooled connection; when it fails because the server had closed that connection,
/// again on the next (every idle connection may be closed after a restart), up to the pool's
/// size and one new connection.
pub(crate) fn read<T>(
    pool: &Pool,
    shown: &str,
    failed: impl Fn(postgres::Error) -> PgError,
    mut op: impl FnMut(&mut Conn) -> Result<T, postgres::Error>,
) -> Result<T, PgError> {
    let mut tries = pool.max_size() + 1;
    loop {
        let mut conn = checkout(pool, shown)?;
        match op(&mut conn) {
            Err(_) if conn.client.is_closed() && tries > 1 => tries -= 1,
            done => return done.map_err(failed),
        }
    }
}

fn checkout(pool: &Pool, shown: &str) -> Result<r2d2::PooledConnection<Manager>, PgError> {
    pool.get().map_err(|e| PgError::Unreachable {
        location: shown.to_string(),
        reason: e.to_string(),
    })
}
