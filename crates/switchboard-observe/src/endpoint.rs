//! Where a pool's connections go, as OpenTelemetry attributes
//! (`server.address`, `server.port`, `db.namespace`).
//!
//! Events do not carry these; a `Connecting` event carries the target URL
//! with its password already replaced. The observers parse only host, port
//! and database name out of it and never show the URL itself, so even a
//! target that arrived unredacted cannot leak a password through them.

use switchboard_core::Backend;

/// The OpenTelemetry view of a connection target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `server.address`: the host name or IP; `None` for SQLite and for
    /// URLs without a host (Unix sockets).
    pub(crate) address: Option<String>,
    /// `server.port`: the explicit port, or the backend's default.
    pub(crate) port: Option<u16>,
    /// `db.namespace`: the database name, or SQLite's file.
    pub(crate) namespace: Option<String>,
}

impl Endpoint {
    /// Parses a `Connecting` event's target. Never fails: what cannot be
    /// parsed is left out.
    pub(crate) fn from_target(target: &str, backend: Backend) -> Endpoint {
        if backend == Backend::Sqlite {
            return Endpoint {
                namespace: sqlite_file(target).map(str::to_owned),
                ..Endpoint::default()
            };
        }
        let Ok(url) = url::Url::parse(target) else {
            return Endpoint::default();
        };
        let default_port = match backend {
            Backend::Postgres => Some(5432),
            Backend::Mysql => Some(3306),
            _ => None,
        };
        let address = url.host_str().filter(|h| !h.is_empty()).map(str::to_owned);
        Endpoint {
            port: address.as_ref().and(url.port().or(default_port)),
            address,
            namespace: Some(url.path().trim_start_matches('/'))
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        }
    }
}

/// `sqlite://app.db?mode=rwc` → `app.db`; `sqlite::memory:` → `:memory:`.
fn sqlite_file(target: &str) -> Option<&str> {
    let rest = target.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let file = rest.split('?').next().unwrap_or(rest);
    Some(file).filter(|f| !f.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_targets_give_host_port_and_database_never_credentials() {
        let pg = Endpoint::from_target("postgres://app:secret@db.internal/shop", Backend::Postgres);
        assert_eq!(pg.address.as_deref(), Some("db.internal"));
        assert_eq!(pg.port, Some(5432));
        assert_eq!(pg.namespace.as_deref(), Some("shop"));
        assert!(!format!("{pg:?}").contains("secret"));

        let my = Endpoint::from_target("mysql://root:***@127.0.0.1:3307/test", Backend::Mysql);
        assert_eq!(
            (my.address.as_deref(), my.port),
            (Some("127.0.0.1"), Some(3307))
        );
    }

    #[test]
    fn sqlite_targets_give_the_file() {
        let file = Endpoint::from_target("sqlite:///tmp/app.db?mode=rwc", Backend::Sqlite);
        assert_eq!(file.namespace.as_deref(), Some("/tmp/app.db"));
        assert_eq!(file.address, None);
        let mem = Endpoint::from_target("sqlite::memory:", Backend::Sqlite);
        assert_eq!(mem.namespace.as_deref(), Some(":memory:"));
    }

    #[test]
    fn garbage_gives_nothing() {
        assert_eq!(
            Endpoint::from_target("not a url", Backend::Postgres),
            Endpoint::default()
        );
    }
}
