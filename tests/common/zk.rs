//! Helpers for tests that drive the server through the third-party
//! `zookeeper-client` crate.

use super::Server;
use std::time::Duration;
use zookeeper_client as zk;

/// A small multi-threaded runtime for one test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A connected client with the given session timeout; fails the test if the
/// connection takes more than 10 s.
pub async fn client_with_timeout(server: &Server, session_timeout: Duration) -> zk::Client {
    client_at(&server.connect_string(), session_timeout).await
}

/// A client connected through `connect` (`host:port[,host:port...]`) with
/// the given session timeout; fails the test if that takes more than 15 s
/// (ensembles may be electing).
pub async fn client_at(connect: &str, session_timeout: Duration) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(15),
        zk::Client::connector()
            .session_timeout(session_timeout)
            .connect(connect),
    )
    .await
    .expect("connect timed out")
    .expect("connect")
}

/// Create options for a plain persistent node open to everyone.
pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}
