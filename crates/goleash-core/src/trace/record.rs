//! A goroutine as a [`Record`], the unit the grouper takes: from a trace, with what the
//! trace says it waits for as a [`Blocking`], or from a crash's dump, with its wait reason.
//! Neither knows the arguments a traceback would print.

use super::{GoState, Goroutine};
use crate::intern::{FrameId, Sym, Tables};
use crate::model::{Blocking, Creator, Record, State};

/// A record of one goroutine.
pub(super) fn record(
    id: u64,
    state: State,
    frames: Vec<FrameId>,
    created_by: Option<Creator>,
) -> Record {
    Record {
        count: 1,
        id: Some(id),
        state: Some(state),
        frames,
        created_by,
        ..Record::default()
    }
}

/// A trace goroutine as a record: where it is, what it waits for, who created it.
pub(super) fn trace_record(tables: &Tables, g: &Goroutine) -> Record {
    let stack = g.stack.or(g.start_stack);
    let frames = stack.map(|s| tables.frames(s).to_vec()).unwrap_or_default();
    let blocking = match g.state {
        GoState::Blocked => g.reason.and_then(|r| blocking(tables, r, &frames)),
        GoState::Syscall => Some(Blocking::Syscall),
        GoState::Running => Some(Blocking::Running),
        // Runnable after a block: judged by the wait it will come back to, on its stack.
        _ => None,
    };
    let created_by = g.creation.and_then(|c| {
        Some(Creator {
            frame: *tables.frames(c.stack?).first()?,
            parent: c.parent,
        })
    });
    let state = State {
        blocking,
        ..State::default()
    };
    record(g.id, state, frames, created_by)
}

/// What a trace's block reason says a goroutine waits for; `None` where the stack says it
/// better (the trace has one `sync` for every lock).
fn blocking(tables: &Tables, reason: Sym, frames: &[FrameId]) -> Option<Blocking> {
    let has = |function: &[u8]| {
        frames
            .iter()
            .any(|&f| tables.bytes(tables.get_frame(f).function) == function)
    };
    Some(match tables.bytes(reason) {
        b"network" => Blocking::IoWait,
        b"sync.(*Cond).Wait" => Blocking::Cond,
        // A nil channel or `select {}`: the stack tells which.
        b"forever" if has(b"runtime.block") => Blocking::SelectNoCases,
        b"forever"
            if has(b"runtime.chanrecv1")
                || has(b"runtime.chanrecv2")
                || has(b"runtime.chanrecv") =>
        {
            Blocking::ChanReceiveNil
        }
        b"forever" if has(b"runtime.chansend1") || has(b"runtime.chansend") => {
            Blocking::ChanSendNil
        }
        b"chan receive" => Blocking::ChanReceive,
        b"chan send" => Blocking::ChanSend,
        b"select" => Blocking::Select,
        b"sleep" => Blocking::Sleep,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::Frame;

    #[test]
    fn block_reasons_become_operations() {
        let mut tables = Tables::new();
        let frames: Vec<FrameId> = ["runtime.gopark", "runtime.chanrecv1", "p.worker"]
            .iter()
            .map(|f| {
                let frame = Frame {
                    function: tables.sym(f.as_bytes()),
                    file: tables.sym(b"p.go"),
                    line: 1,
                    offset: None,
                    inlined: false,
                };
                tables.frame(frame)
            })
            .collect();
        let mut of = |reason: &str| {
            let reason = tables.sym(reason.as_bytes());
            blocking(&tables, reason, &frames)
        };
        assert_eq!(of("chan receive"), Some(Blocking::ChanReceive));
        assert_eq!(of("network"), Some(Blocking::IoWait));
        // A nil channel: the stack says it is a receive.
        assert_eq!(of("forever"), Some(Blocking::ChanReceiveNil));
        // The stack tells which lock.
        assert_eq!(of("sync"), None);
    }
}
