//! A TCP proxy in front of the node: the kiosks talk to it, and it can cut every connection for a while (the
//! node unreachable) without touching the node.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    /// The port kiosks connect to.
    pub port: u16,
    up: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = watch::channel(true);
        let up = Arc::new(tx);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut rx = rx.clone();
                if !*rx.borrow() {
                    drop(inbound); // unreachable: closed at once
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Ok(Proxy { port, up, task })
    }

    /// Cuts every connection and refuses new ones (`false`), or lets them through again (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
