//! A minimal HTTP/1.1 client over `TcpStream`: GET only, keep-alive or not.
//!
//! Its own rather than a crate's because the tests need to control connections exactly:
//! a capture on a kept-alive connection leaves the service in the same state each time
//! (the serving goroutine is the one that took the previous capture), while a request on
//! a connection of its own ends the goroutine that served it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection, kept alive between requests.
pub struct Connection {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Connection {
    pub fn open(addr: &str) -> Connection {
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set a timeout");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("set a timeout");
        Connection {
            reader: BufReader::new(stream),
            host: addr.to_string(),
        }
    }

    /// GETs `path` and keeps the connection open.
    pub fn get(&mut self, path: &str) -> Response {
        self.request(path, false)
            .unwrap_or_else(|e| panic!("GET {path} from {} failed: {e}", self.host))
    }

    fn request(&mut self, path: &str, close: bool) -> std::io::Result<Response> {
        let connection = if close { "close" } else { "keep-alive" };
        write!(
            self.reader.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: {connection}\r\n\r\n",
            self.host
        )?;
        self.reader.get_mut().flush()?;
        let status_line = self.line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header {line:?}")))?;
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        // 204 and 304 never have a body, whatever the headers say.
        if status == 204 || status == 304 {
        } else if chunked {
            loop {
                let size_line = self.line()?;
                let size = size_line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
                if size == 0 {
                    // Trailers, then the blank line that ends the message.
                    while !self.line()?.is_empty() {}
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                self.reader.read_exact(&mut body[start..])?;
                self.line()?;
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            self.reader.read_exact(&mut body)?;
        } else {
            self.reader.read_to_end(&mut body)?;
        }
        Ok(Response { status, body })
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// GETs `path` on a connection of its own, closed afterwards.
pub fn get(addr: &str, path: &str) -> Response {
    Connection::open(addr)
        .request(path, true)
        .unwrap_or_else(|e| panic!("GET {path} from {addr} failed: {e}"))
}

/// [`get`] for a server that may not listen yet: None when it does not answer.
pub fn try_get(addr: &str, path: &str) -> Option<Response> {
    let stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    let mut connection = Connection {
        reader: BufReader::new(stream),
        host: addr.to_string(),
    };
    connection.request(path, true).ok()
}
