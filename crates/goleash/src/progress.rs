//! Progress on stderr while a large file is read, only when stderr is a terminal.

use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Files smaller than this are read too fast for progress to help.
const WORTH_SHOWING: u64 = 64 << 20;
const EVERY: Duration = Duration::from_millis(200);

/// A reader that redraws one status line on stderr as it goes, and clears it at the end.
pub struct Progress<R> {
    inner: R,
    name: String,
    total: u64,
    read: u64,
    last: Instant,
    shown: bool,
}

impl<R: Read> Progress<R> {
    /// Wraps `inner` when progress is worth showing: a large input and a terminal on stderr.
    pub fn wrap(inner: R, name: &str, total: u64) -> Box<dyn Read>
    where
        R: 'static,
    {
        if total < WORTH_SHOWING || !io::stderr().is_terminal() {
            return Box::new(inner);
        }
        Box::new(Progress {
            inner,
            name: name.to_string(),
            total,
            read: 0,
            last: Instant::now(),
            shown: false,
        })
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64)
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let mut stderr = io::stderr().lock();
        if n == 0 {
            if self.shown {
                let _ = write!(stderr, "\r\x1b[K");
            }
        } else if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            self.shown = true;
            let percent = self.read * 100 / self.total.max(1);
            let _ = write!(
                stderr,
                "\r\x1b[Kgoleash: reading {}: {} of {} ({percent}%)",
                self.name,
                mib(self.read),
                mib(self.total)
            );
        }
        Ok(n)
    }
}
