//! A minimal HTTP/1.1 server on loopback for the simulated targets: enough of the protocol
//! for `goleash watch` (GET, keep-alive, Content-Length), one thread per connection.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::Sim;

/// Longest request head accepted.
const MAX_HEAD: usize = 8 << 10;

/// Serves `sim` on `listener` until the process ends.
pub fn serve(listener: TcpListener, sim: Arc<Sim>) {
    let spawned = std::thread::Builder::new()
        .name("demo-accept".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let sim = Arc::clone(&sim);
                // A connection that cannot get a thread is dropped; the client retries.
                let _ = std::thread::Builder::new()
                    .name("demo-conn".into())
                    .spawn(move || connection(stream, &sim));
            }
        });
    if let Err(e) = spawned {
        eprintln!("goleash: demo: cannot start a server thread: {e}");
    }
}

fn connection(stream: TcpStream, sim: &Sim) {
    // An idle client connection is dropped after a while, as net/http does not, but a
    // simulation need not hold threads forever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut head = Vec::new();
        let mut close = false;
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == b"\r\n" || line == b"\n" {
                break;
            }
            let lower = String::from_utf8_lossy(&line).to_ascii_lowercase();
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
            head.extend_from_slice(&line);
            if head.len() > MAX_HEAD {
                return;
            }
        }
        let request = String::from_utf8_lossy(&head);
        let target = request
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/");
        let (status, content_type, body) = sim.respond(target);
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if writer.write_all(reply.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}
