//! [`Console`], a running console, and [`ConsoleService`], one built but
//! not listening (to mount in an application's own actix-web `App`).

use std::net::{SocketAddr, ToSocketAddrs};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

use crate::builder::ConsoleBuilder;
use crate::error::{Error, Result};
use crate::state::{ConsoleStats, State};

/// The console's routes and state, subscribed to its pools. Dropping the
/// last clone (and every server it is mounted in) ends the subscriptions.
#[derive(Clone)]
pub struct ConsoleService {
    state: web::Data<State>,
}

impl std::fmt::Debug for ConsoleService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleService")
            .field("pools", &self.state.names)
            .field("config", &self.state.config)
            .finish_non_exhaustive()
    }
}

impl ConsoleService {
    pub(crate) fn new(state: State) -> ConsoleService {
        ConsoleService {
            state: web::Data::new(state),
        }
    }

    /// Mounts the console's routes (see the crate documentation) on an
    /// actix-web `App`: `App::new().configure(|c| service.configure(c))`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        crate::http::configure(cfg, self.state.clone());
    }

    /// The event stream's counters.
    pub fn stats(&self) -> ConsoleStats {
        self.state.stats()
    }

    /// What `/metrics` serves now; `None` when metrics are off.
    pub fn render_metrics(&self) -> Option<String> {
        self.state.render_metrics()
    }

    /// Ends every event stream and refuses new ones.
    pub fn close(&self) {
        self.state.hub.close();
    }
}

/// A console serving on its address. Dropping it stops the server (at
/// once; use [`stop`](Self::stop) to wait for it) and, once the server let
/// go of it, the subscriptions.
pub struct Console {
    service: ConsoleService,
    addr: SocketAddr,
    server: ServerHandle,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("addr", &self.addr)
            .field("service", &self.service)
            .finish()
    }
}

impl Console {
    /// Configures a console.
    pub fn builder() -> ConsoleBuilder {
        ConsoleBuilder::default()
    }

    pub(crate) fn serve(service: ConsoleService, listen: &str) -> Result<Console> {
        let addr = resolve(listen)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let factory = service.clone();
        let server = HttpServer::new(move || {
            let service = factory.clone();
            App::new().configure(move |cfg| service.configure(cfg))
        })
        // The console is light work: one worker thread is plenty, and
        // leaves the application's cores to the application.
        .workers(1)
        // Signals belong to the application, not to its console.
        .disable_signals()
        // Event streams never end by themselves: stopping waits 1 s for
        // them at most (they end at once when the hub is closed first).
        .shutdown_timeout(1)
        .bind(addr)
        .map_err(|source| Error::Listen { addr, source })?;
        let addr = server.addrs().first().copied().unwrap_or(addr);
        let server = server.run();
        let handle = server.handle();
        // Runs until stopped through the handle (stop, or Console's drop).
        actix_web::rt::spawn(server);
        tracing::info!(target: "switchboard::console", %addr, "console serving");
        Ok(Console {
            service,
            addr,
            server: handle,
        })
    }

    /// The address served (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL, `http://127.0.0.1:9100/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The event stream's counters.
    pub fn stats(&self) -> ConsoleStats {
        self.service.stats()
    }

    /// What `/metrics` serves now; `None` when metrics are off.
    pub fn render_metrics(&self) -> Option<String> {
        self.service.render_metrics()
    }

    /// The routes and state, to mount elsewhere as well.
    pub fn service(&self) -> &ConsoleService {
        &self.service
    }

    /// Ends every event stream, then stops the server and waits for it.
    pub async fn stop(self) {
        self.service.close();
        self.server.stop(true).await;
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.service.close();
        // The stop command is sent now; its completion is not awaited.
        drop(self.server.stop(false));
    }
}

/// The first address `listen` names.
fn resolve(listen: &str) -> Result<SocketAddr> {
    let bad = |reason: String| Error::BadAddress {
        input: listen.to_owned(),
        reason,
    };
    listen
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("it names no address".into()))
}
