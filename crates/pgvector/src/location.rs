//! Where an index lives in PostgreSQL: `postgres://user@host:port/db?table=NAME`.

use std::str::FromStr;

use crate::PgError;

/// A table in a PostgreSQL database, and how many connections to keep open to it.
#[derive(Debug, Clone)]
pub struct PgLocation {
    /// Connection settings (the URL without lookbook's own parameters).
    pub config: postgres::Config,
    /// The table holding the index's rows (its settings are a row of `lookbook_indexes`).
    pub table: String,
    /// Connections in the pool (`?pool=N`; default 8).
    pub pool: u32,
    /// `maintenance_work_mem` while a bulk load builds the HNSW index (`?build_mem=4GB`;
    /// default 2GB). A graph that does not fit is built far more slowly.
    pub build_memory: String,
    /// The URL as given, password masked, for messages.
    pub shown: String,
}

/// Whether `text` names a PostgreSQL index rather than a folder.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// Table names lookbook accepts: they become SQL identifiers, so nothing needing quotes.
fn valid_table(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 48
}

impl FromStr for PgLocation {
    type Err = PgError;

    /// `table` (default `lookbook`) and `pool` are lookbook's; every other parameter
    /// (`sslmode`, `connect_timeout`, `application_name`, ...) goes to the driver.
    fn from_str(url: &str) -> Result<Self, PgError> {
        if !is_postgres_url(url) {
            return Err(PgError::Location(format!(
                "`{url}` is not a postgres:// URL (postgres://user@host:port/db?table=NAME)"
            )));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut table, mut pool, mut rest) = ("lookbook".to_string(), 8u32, Vec::new());
        let mut build_memory = "2GB".to_string();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("table", value)) => table = value.to_string(),
                Some(("build_mem", value)) => {
                    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
                    let unit = &value[digits.len()..];
                    if digits.is_empty()
                        || !digits.bytes().all(|b| b.is_ascii_digit())
                        || !["kB", "MB", "GB"].contains(&unit)
                    {
                        return Err(PgError::Location(format!(
                            "`build_mem={value}`: expected a size like 512MB or 4GB"
                        )));
                    }
                    build_memory = value.to_string();
                }
                Some(("pool", value)) => {
                    pool = value
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| PgError::Location(format!("`pool={value}`: expected a positive number")))?
                }
                _ => rest.push(pair),
            }
        }
        if !valid_table(&table) {
            return Err(PgError::Location(format!(
                "table `{table}`: use lowercase letters, digits and _ (at most 48, not starting with a digit)"
            )));
        }
        let driver_url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config =
            postgres::Config::from_str(&driver_url).map_err(|e| PgError::Location(format!("`{}`: {e}", mask(url))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        Ok(PgLocation {
            config,
            table,
            pool,
            build_memory,
            shown: mask(url),
        })
    }
}

/// The URL with any password replaced by `***`.
fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}{tail}")
        }
        _ => url.to_string(),
    }
}

impl std::fmt::Display for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookbook_parameters_are_taken_out_and_the_rest_goes_to_the_driver() {
        let location: PgLocation = "postgres://me:secret@db.example:6543/shop?table=dresses&pool=3&application_name=x"
            .parse()
            .unwrap();
        assert_eq!(location.table, "dresses");
        assert_eq!(location.pool, 3);
        assert_eq!(location.config.get_dbname(), Some("shop"));
        assert_eq!(location.config.get_ports(), &[6543]);
        assert_eq!(location.config.get_application_name(), Some("x"));
        assert!(!location.to_string().contains("secret"), "{location}");
        let default: PgLocation = "postgresql://me@localhost/shop".parse().unwrap();
        assert_eq!((default.table.as_str(), default.pool), ("lookbook", 8));
    }

    #[test]
    fn bad_locations_are_refused_with_the_reason() {
        for (url, reason) in [
            ("/tmp/index", "not a postgres:// URL"),
            (
                "postgres://me@h/db?table=Robert'); DROP TABLE x;--",
                "lowercase letters",
            ),
            ("postgres://me@h/db?pool=0", "positive number"),
            ("postgres://me@h/db?build_mem=lots", "a size like"),
            ("postgres://me@h/db?nonsense=1", "nonsense"),
        ] {
            let error = url.parse::<PgLocation>().unwrap_err().to_string();
            assert!(error.contains(reason), "{url}: {error}");
        }
    }
}
