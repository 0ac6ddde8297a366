//! A TCP proxy in front of LocalStack that delays every chunk a client sends by a fixed
//! time, as a distant AWS region would. LocalStack answers the whole stack in under a
//! second; behind this proxy a `nova up` lasts long enough for a test to act in the middle
//! of it (kill the process, write the state behind its back, start seven more runs).
//! Bytes pass through unchanged: the SDK clients, signing and LocalStack are the real ones.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A running proxy; it stops accepting connections when dropped.
pub struct LatencyProxy {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl LatencyProxy {
    /// Listens on a free local port and forwards to `upstream` (`http://host:port`),
    /// delaying each chunk from the client by `delay`.
    pub fn start(upstream: &str, delay: Duration) -> LatencyProxy {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the latency proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let target = target.clone();
                thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(&target) {
                        relay(client, server, delay);
                    }
                });
            }
        });
        LatencyProxy { address, stop }
    }

    /// The endpoint to give nova as AWS_ENDPOINT_URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

/// Copies both ways until either side closes; client -> server chunks wait `delay`.
fn relay(client: TcpStream, server: TcpStream, delay: Duration) {
    let (Ok(client_in), Ok(server_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream = thread::spawn(move || pump(client_in, server_out, delay));
    pump(server, client, Duration::ZERO);
    let _ = upstream.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
