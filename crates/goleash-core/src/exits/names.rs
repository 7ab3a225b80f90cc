//! Go's names for functions, both ways: the declaration or literal a traceback's
//! `pkg.(*T).m.func1.2` is, and the name a traceback gives a declaration or literal.
//!
//! The compiler numbers the function literals of a function in source order (`func1`,
//! `func2`, …, literals that are inlined away included) and the literals inside a literal
//! after it (`func1.1`). Initialisers of package variables are `glob..func1` before Go 1.22
//! and `init.func1` since; `func init` is `init.0`, `init.1`, … Type arguments print as
//! `[...]`, and wrappers of `go`/`defer` statements as `gowrap1`, `deferwrap1`.

use tree_sitter::Node;

use super::syntax::{GoFile, children, covers, is_function, visit};

/// Why a frame's function and line are not in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch(pub String);

/// What a frame's function name says, past its package.
#[derive(Debug, PartialEq, Eq)]
enum Base<'a> {
    Function(&'a str),
    Method {
        receiver: &'a str,
        name: &'a str,
    },
    /// `init.N`: the Nth `func init` of the package.
    Init,
    /// `glob..funcN` or `init.funcN`: a literal in a package variable's initialiser.
    PackageVar,
}

#[derive(Debug, PartialEq, Eq)]
struct Parsed<'a> {
    base: Base<'a>,
    /// The literal numbers, outermost first; `None` when a part is not one (a wrapper).
    literals: Option<Vec<usize>>,
}

/// Removes `[...]` (type arguments) from a function name.
pub fn without_type_args(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains("[...]") {
        name.replace("[...]", "").into()
    } else {
        name.into()
    }
}

fn parse(local: &str) -> Parsed<'_> {
    let (base, rest): (Base<'_>, Vec<&str>) = if let Some(receiver) = local.strip_prefix('(') {
        let (inside, after) = receiver.split_once(')').unwrap_or((receiver, ""));
        let mut parts = after.trim_start_matches('.').split('.');
        let name = parts.next().unwrap_or("");
        (
            Base::Method {
                receiver: inside.trim_start_matches('*'),
                name,
            },
            parts.collect(),
        )
    } else {
        let parts: Vec<&str> = local.split('.').collect();
        let first = parts[0];
        let second = parts.get(1).copied();
        let is_literal = |p: &str| {
            p.is_empty()
                || p.bytes().all(|b| b.is_ascii_digit())
                || p.strip_prefix("func")
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                || p.starts_with("gowrap")
                || p.starts_with("deferwrap")
        };
        match second {
            Some("") => (Base::PackageVar, parts[2..].to_vec()),
            Some(n) if first == "init" && n.bytes().all(|b| b.is_ascii_digit()) => {
                (Base::Init, parts[2..].to_vec())
            }
            Some(n) if first == "init" && n.starts_with("func") => {
                (Base::PackageVar, parts[1..].to_vec())
            }
            Some(n) if !is_literal(n) => (
                Base::Method {
                    receiver: first,
                    name: n,
                },
                parts[2..].to_vec(),
            ),
            _ => (Base::Function(first), parts[1..].to_vec()),
        }
    };
    let base = match base {
        Base::Function(f) => Base::Function(strip_range(f)),
        Base::Method { receiver, name } => Base::Method {
            receiver,
            name: strip_range(name),
        },
        other => other,
    };
    let literals = rest
        .iter()
        .map(|p| {
            let p = strip_range(p);
            p.strip_prefix("func").unwrap_or(p).parse::<usize>().ok()
        })
        .collect();
    Parsed { base, literals }
}

/// `F-range1` is the body of a range-over-func loop in `F`: for finding code, it is `F`.
fn strip_range(part: &str) -> &str {
    part.split_once("-range").map_or(part, |(f, _)| f)
}

/// The receiver type's name of a method declaration: `T` for `(s *T)`, `(T)`, `(l *L[E])`.
/// The receiver's name and type of a method declaration: `("l", "limiter")` for
/// `func (l *limiter[T]) refill()`.
pub fn receiver<'t>(file: &'t GoFile, method: Node<'t>) -> Option<(&'t str, &'t str)> {
    let receiver = method.child_by_field_name("receiver")?;
    let param = children(receiver).find(|c| c.kind() == "parameter_declaration")?;
    let name = file.text(param.child_by_field_name("name")?);
    Some((name, receiver_type(file, method)?))
}

fn receiver_type<'t>(file: &'t GoFile, method: Node<'t>) -> Option<&'t str> {
    let receiver = method.child_by_field_name("receiver")?;
    let param = children(receiver).find(|c| c.kind() == "parameter_declaration")?;
    let mut ty = param.child_by_field_name("type")?;
    loop {
        ty = match ty.kind() {
            "pointer_type" | "parenthesized_type" => ty.named_child(0)?,
            "generic_type" => ty.child_by_field_name("type")?,
            _ => break,
        };
    }
    Some(file.text(ty))
}

fn declaration_matches(file: &GoFile, decl: Node<'_>, base: &Base<'_>) -> bool {
    let name = || decl.child_by_field_name("name").map(|n| file.text(n));
    match (decl.kind(), base) {
        ("function_declaration", Base::Function(f)) => name() == Some(*f),
        ("function_declaration", Base::Init) => name() == Some("init"),
        ("method_declaration", Base::Method { receiver, name: m }) => {
            name() == Some(*m) && receiver_type(file, decl) == Some(*receiver)
        }
        ("var_declaration", Base::PackageVar) => true,
        _ => false,
    }
}

/// The function literals of `function` that are not inside another literal, in source order.
pub fn direct_literals(function: Node<'_>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let body = match function.kind() {
        "var_declaration" => Some(function),
        _ => function.child_by_field_name("body"),
    };
    if let Some(body) = body {
        visit(body, &mut |n| {
            if n.kind() == "func_literal" {
                out.push(n);
                return false;
            }
            true
        });
    }
    out
}

/// The declaration or literal that `function` (as a traceback names it, package included)
/// is in `file`, checked against `line`: the line must be code inside it.
pub fn find<'t>(file: &'t GoFile, function: &str, line: u32) -> Result<Node<'t>, Mismatch> {
    let short = file.path.rsplit('/').next().unwrap_or(&file.path);
    let text = file.line(line).map(str::trim);
    match text {
        None => return Err(Mismatch(format!("{short} has no line {line}"))),
        Some(t) if t.is_empty() || t.starts_with("//") => {
            return Err(Mismatch(format!("line {line} of {short} is blank")));
        }
        _ => {}
    }
    let local = local_name(function);
    let local = without_type_args(local);
    let parsed = parse(&local);
    let decls: Vec<Node<'t>> = children(file.root())
        .filter(|d| declaration_matches(file, *d, &parsed.base))
        .collect();
    let Some(&decl) = decls
        .iter()
        .find(|d| covers(**d, line))
        .or(decls.first().filter(|_| parsed.base != Base::PackageVar))
    else {
        return Err(Mismatch(match enclosing_declaration(file, line) {
            Some(other) => format!("line {line} of {short} is in {other}, not in {local}"),
            None => format!("{short} has no {local}"),
        }));
    };
    if !covers(decl, line) {
        let other =
            enclosing_declaration(file, line).map_or("no function".to_string(), |o| o.to_string());
        return Err(Mismatch(format!(
            "line {line} of {short} is in {other}, not in {local}"
        )));
    }
    let mut node = decl;
    let numbered = parsed.base != Base::PackageVar;
    match parsed.literals {
        Some(numbers) if numbered => {
            for n in numbers {
                match direct_literals(node).get(n.wrapping_sub(1)) {
                    Some(&lit) if covers(lit, line) => node = lit,
                    // Numbering we do not reproduce (a literal the compiler added or
                    // dropped): the innermost literal around the line is the one.
                    _ => return Ok(innermost_function(decl, line)),
                }
            }
        }
        // Wrappers run the statement of the function they wrap; package variables'
        // literals are numbered across the whole package.
        _ => {
            if numbered {
                return Ok(node);
            }
            return Ok(innermost_function(decl, line));
        }
    }
    Ok(node)
}

/// The part of a traceback's function name after its package path.
pub fn local_name(function: &str) -> &str {
    let package = crate::code::package_of(function.as_bytes());
    function
        .get(package.len()..)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(function)
}

fn innermost_function(decl: Node<'_>, line: u32) -> Node<'_> {
    let mut best = decl;
    visit(decl, &mut |n| {
        if !covers(n, line) {
            return false;
        }
        if n.kind() == "func_literal" {
            best = n;
        }
        true
    });
    best
}

/// The name of the declaration around `line`, for messages.
fn enclosing_declaration(file: &GoFile, line: u32) -> Option<String> {
    let decl = children(file.root()).find(|d| covers(*d, line) && is_function(*d))?;
    let name = file.text(decl.child_by_field_name("name")?);
    Some(match receiver_type(file, decl) {
        Some(t) => format!("{t}.{name}"),
        None => name.to_string(),
    })
}

/// The name a traceback gives a declaration or a literal of package `package` (the import
/// path), without type arguments; `None` for literals of package variables and `init`.
pub fn go_name(file: &GoFile, function: Node<'_>, package: &str) -> Option<String> {
    match function.kind() {
        "function_declaration" => {
            let name = file.text(function.child_by_field_name("name")?);
            (name != "init").then(|| format!("{package}.{name}"))
        }
        "method_declaration" => {
            let name = file.text(function.child_by_field_name("name")?);
            let receiver = function.child_by_field_name("receiver")?;
            let param = children(receiver).find(|c| c.kind() == "parameter_declaration")?;
            let pointer = param
                .child_by_field_name("type")
                .is_some_and(|t| t.kind() == "pointer_type");
            let ty = receiver_type(file, function)?;
            Some(if pointer {
                format!("{package}.(*{ty}).{name}")
            } else {
                format!("{package}.{ty}.{name}")
            })
        }
        "func_literal" => {
            let mut up = function.parent();
            while let Some(n) = up {
                if is_function(n) {
                    break;
                }
                up = n.parent();
            }
            let parent = up?;
            let index = direct_literals(parent)
                .iter()
                .position(|l| l.id() == function.id())?
                + 1;
            let outer = go_name(file, parent, package)?;
            Some(if parent.kind() == "func_literal" {
                format!("{outer}.{index}")
            } else {
                format!("{outer}.func{index}")
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO: &str = "package main

type T struct{}

func (t *T) m() {
	f := func() {}
	f()
	go func() {
		go func() {
			block()
		}()
		func() {
			go func() { block() }()
		}()
		block()
	}()
}

func (t T) v() {
	go func() { block() }()
}

func gen[X any](x X) {
	go func() { block() }()
}

var glob = func() int {
	go func() { block() }()
	return 1
}()

func init() {
	go func() { block() }()
}

type L[E any] struct{}

func (l *L[E]) push() {
	block()
}
";

    fn resolved(function: &str, line: u32) -> (u32, String) {
        let file = GoFile::parse("main.go", GO.as_bytes().to_vec()).unwrap();
        let node = find(&file, function, line).unwrap();
        (
            super::super::syntax::line_of(node),
            go_name(&file, node, "main").unwrap_or_default(),
        )
    }

    #[test]
    fn names_as_go_prints_them_map_to_their_literals() {
        // Go 1.21 to 1.27 name these the same, as run on the toolchains here.
        assert_eq!(
            resolved("main.(*T).m.func2", 15),
            (8, "main.(*T).m.func2".into())
        );
        assert_eq!(
            resolved("main.(*T).m.func2.1", 10),
            (9, "main.(*T).m.func2.1".into())
        );
        assert_eq!(
            resolved("main.(*T).m.func2.2.1", 13),
            (13, "main.(*T).m.func2.2.1".into())
        );
        assert_eq!(
            resolved("main.T.v.func1", 20),
            (20, "main.T.v.func1".into())
        );
        assert_eq!(
            resolved("main.gen[...].func1", 24),
            (24, "main.gen.func1".into())
        );
        assert_eq!(
            resolved("main.(*L[...]).push", 39),
            (38, "main.(*L).push".into())
        );
        assert_eq!(resolved("main.(*T).m", 7), (5, "main.(*T).m".into()));
        // Package variables: `glob..func1` before Go 1.22, `init.func1` since.
        assert_eq!(resolved("main.glob..func1.1", 28).0, 28);
        assert_eq!(resolved("main.init.func1.1", 28).0, 28);
        assert_eq!(resolved("main.init.0.func1", 33).0, 33);
    }

    #[test]
    fn a_line_elsewhere_is_a_mismatch() {
        let file = GoFile::parse("main.go", GO.as_bytes().to_vec()).unwrap();
        assert_eq!(
            find(&file, "main.(*T).m", 20),
            Err(Mismatch(
                "line 20 of main.go is in T.v, not in (*T).m".into()
            ))
        );
        assert_eq!(
            find(&file, "main.(*T).m", 18),
            Err(Mismatch("line 18 of main.go is blank".into()))
        );
        assert!(find(&file, "main.gone", 7).is_err());
        assert!(find(&file, "main.(*T).m", 400).is_err());
    }
}
