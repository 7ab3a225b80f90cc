//! Real captures: the programs of `fixtures/go`, built with several Go releases, captured
//! in every format Go emits, and what the parser reads compared exactly with what the
//! programs report they created (`fixtures/go/internal/truth`) and with the `// GT:`
//! markers in their source.

mod crash;
pub(crate) mod leakysvc;
mod stored;
