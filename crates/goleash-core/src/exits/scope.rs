//! Where a name is declared: Go's block scoping, enough of it to follow a variable from
//! where it is used to where it is made.

use tree_sitter::Node;

use super::syntax::{GoFile, children, expressions, within};

/// What a name used somewhere is.
#[derive(Clone, Copy, Debug)]
pub enum Binding<'t> {
    /// A variable declared in a function body: `x := e`, `var x = e`, `x, y := f()`.
    Local {
        /// The declaring statement or spec.
        decl: Node<'t>,
        /// The function (declaration or literal) whose body declares it.
        owner: Node<'t>,
        /// The value it is declared with: the expression at its position, or the one call
        /// that returns several values.
        value: Option<Node<'t>>,
        /// Its position on the left-hand side.
        index: usize,
    },
    /// A parameter (or the receiver) of a function.
    Param {
        /// The function.
        function: Node<'t>,
        /// The `parameter_declaration` that names it.
        decl: Node<'t>,
        /// Its position among the parameters; `None` for the receiver.
        index: Option<usize>,
    },
    /// A variable of a `for … range`, a select case or a type switch: no single value.
    Bound {
        /// The declaring clause.
        decl: Node<'t>,
    },
    /// A package-level variable of this file.
    Global {
        /// The `var_spec`.
        decl: Node<'t>,
        /// Its value, when it has one.
        value: Option<Node<'t>>,
    },
}

impl<'t> Binding<'t> {
    /// The node that declares the name: equal for every use of the same variable.
    pub fn decl(&self) -> Node<'t> {
        match *self {
            Binding::Local { decl, .. }
            | Binding::Param { decl, .. }
            | Binding::Bound { decl }
            | Binding::Global { decl, .. } => decl,
        }
    }
}

/// Resolves the identifier `ident` where it is used. `None`: not declared in this file (a
/// package-level name of another file, an import, a builtin).
pub fn resolve<'t>(file: &'t GoFile, ident: Node<'t>) -> Option<Binding<'t>> {
    let name = file.text(ident);
    if name == "_" {
        return None;
    }
    let mut at = ident;
    while let Some(up) = at.parent() {
        match up.kind() {
            "statement_list" => {
                if let Some(b) = declared_before(file, up, at, name) {
                    return Some(b);
                }
            }
            "for_statement" => {
                let in_body = up
                    .child_by_field_name("body")
                    .is_some_and(|b| within(ident, b));
                for clause in children(up) {
                    match clause.kind() {
                        "range_clause" if in_body => {
                            if let Some(left) = clause.child_by_field_name("left")
                                && names_in(file, left).any(|(n, _)| n == name)
                            {
                                return Some(Binding::Bound { decl: clause });
                            }
                        }
                        "for_clause" => {
                            if let Some(init) = clause.child_by_field_name("initializer")
                                && !within(ident, init)
                                && let Some(b) = declares(file, init, name, owner_of(up))
                            {
                                return Some(b);
                            }
                        }
                        _ => {}
                    }
                }
            }
            "if_statement" | "expression_switch_statement" | "type_switch_statement" => {
                if let Some(init) = up.child_by_field_name("initializer")
                    && !within(ident, init)
                    && let Some(b) = declares(file, init, name, owner_of(up))
                {
                    return Some(b);
                }
                if up.kind() == "type_switch_statement"
                    && let Some(alias) = up.child_by_field_name("alias")
                    && names_in(file, alias).any(|(n, _)| n == name)
                {
                    return Some(Binding::Bound { decl: up });
                }
            }
            "communication_case" => {
                if let Some(comm) = up.child_by_field_name("communication")
                    && comm.kind() == "receive_statement"
                    && !within(ident, comm)
                    && let Some(left) = comm.child_by_field_name("left")
                    && names_in(file, left).any(|(n, _)| n == name)
                {
                    return Some(Binding::Bound { decl: comm });
                }
            }
            "func_literal" | "function_declaration" | "method_declaration" => {
                if let Some(b) = parameter(file, up, name) {
                    return Some(b);
                }
            }
            "source_file" => return global(file, up, name),
            _ => {}
        }
        at = up;
    }
    None
}

/// The function whose body holds `node`.
fn owner_of(node: Node<'_>) -> Node<'_> {
    super::syntax::enclosing_function(node).unwrap_or(node)
}

/// A declaration of `name` among the statements of `list` before the one holding `at`.
fn declared_before<'t>(
    file: &'t GoFile,
    list: Node<'t>,
    at: Node<'t>,
    name: &str,
) -> Option<Binding<'t>> {
    let owner = owner_of(list);
    let mut found = None;
    for statement in children(list) {
        if statement.start_byte() >= at.start_byte() {
            break;
        }
        if let Some(b) = declares(file, statement, name, owner) {
            found = Some(b);
        }
    }
    found
}

/// Whether `statement` declares `name`, and how.
fn declares<'t>(
    file: &'t GoFile,
    statement: Node<'t>,
    name: &str,
    owner: Node<'t>,
) -> Option<Binding<'t>> {
    match statement.kind() {
        "short_var_declaration" => {
            let left = statement.child_by_field_name("left")?;
            let (_, index) = names_in(file, left).find(|(n, _)| *n == name)?;
            let right = statement
                .child_by_field_name("right")
                .map(expressions)
                .unwrap_or_default();
            let value = right.get(index).copied().or_else(|| {
                // `a, b := f()`: one call gives every value.
                (right.len() == 1).then(|| right[0])
            });
            Some(Binding::Local {
                decl: statement,
                owner,
                value,
                index,
            })
        }
        "var_declaration" => {
            for spec in var_specs(statement) {
                if let Some(b) = var_spec_declares(file, spec, name, owner) {
                    return Some(b);
                }
            }
            None
        }
        _ => None,
    }
}

fn var_specs(declaration: Node<'_>) -> Vec<Node<'_>> {
    let mut specs = Vec::new();
    for c in children(declaration) {
        match c.kind() {
            "var_spec" => specs.push(c),
            "var_spec_list" => specs.extend(children(c).filter(|s| s.kind() == "var_spec")),
            _ => {}
        }
    }
    specs
}

fn var_spec_declares<'t>(
    file: &'t GoFile,
    spec: Node<'t>,
    name: &str,
    owner: Node<'t>,
) -> Option<Binding<'t>> {
    let mut cursor = spec.walk();
    let names: Vec<Node<'t>> = spec.children_by_field_name("name", &mut cursor).collect();
    let index = names.iter().position(|n| file.text(*n) == name)?;
    let values = spec
        .child_by_field_name("value")
        .map(expressions)
        .unwrap_or_default();
    let value = values
        .get(index)
        .copied()
        .or_else(|| (values.len() == 1 && names.len() > 1).then(|| values[0]));
    Some(if owner.kind() == "source_file" {
        Binding::Global { decl: spec, value }
    } else {
        Binding::Local {
            decl: spec,
            owner,
            value,
            index,
        }
    })
}

/// The identifiers of a left-hand side with their positions.
fn names_in<'t>(file: &'t GoFile, left: Node<'t>) -> impl Iterator<Item = (&'t str, usize)> {
    expressions(left)
        .into_iter()
        .enumerate()
        .filter(|(_, e)| e.kind() == "identifier")
        .map(move |(i, e)| (file.text(e), i))
}

/// A parameter (or receiver, or named result) of `function` called `name`.
fn parameter<'t>(file: &'t GoFile, function: Node<'t>, name: &str) -> Option<Binding<'t>> {
    if let Some(receiver) = function.child_by_field_name("receiver") {
        for decl in children(receiver) {
            if decl
                .child_by_field_name("name")
                .is_some_and(|n| file.text(n) == name)
            {
                return Some(Binding::Param {
                    function,
                    decl,
                    index: None,
                });
            }
        }
    }
    let params = function.child_by_field_name("parameters")?;
    let mut index = 0;
    for decl in children(params) {
        if !matches!(
            decl.kind(),
            "parameter_declaration" | "variadic_parameter_declaration"
        ) {
            continue;
        }
        let mut cursor = decl.walk();
        let names: Vec<Node<'t>> = decl.children_by_field_name("name", &mut cursor).collect();
        if names.is_empty() {
            index += 1;
            continue;
        }
        for n in names {
            if file.text(n) == name {
                return Some(Binding::Param {
                    function,
                    decl,
                    index: Some(index),
                });
            }
            index += 1;
        }
    }
    if let Some(result) = function.child_by_field_name("result")
        && result.kind() == "parameter_list"
    {
        for decl in children(result) {
            let mut cursor = decl.walk();
            if decl
                .children_by_field_name("name", &mut cursor)
                .any(|n| file.text(n) == name)
            {
                return Some(Binding::Bound { decl });
            }
        }
    }
    None
}

/// A package-level variable of this file called `name`.
pub fn global<'t>(file: &'t GoFile, root: Node<'t>, name: &str) -> Option<Binding<'t>> {
    children(root)
        .filter(|d| d.kind() == "var_declaration")
        .flat_map(var_specs)
        .find_map(|spec| var_spec_declares(file, spec, name, root))
}

/// The type written for a binding, when the source writes one (`var x T`, a parameter).
pub fn declared_type<'t>(binding: &Binding<'t>) -> Option<Node<'t>> {
    match binding {
        Binding::Param { decl, .. } => decl.child_by_field_name("type"),
        Binding::Local { decl, .. } | Binding::Global { decl, .. } if decl.kind() == "var_spec" => {
            decl.child_by_field_name("type")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exits::syntax::visit;

    const GO: &str = "package p

var global = make(chan int)

func f(ctx context.Context, jobs <-chan int) {
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	for j := range jobs {
		go func(n int) {
			<-done
			use(n, j, global, cancel)
		}(j)
	}
}
";

    /// Resolves every use of `name` on line `line`.
    fn binding_kind(line: u32, name: &str) -> String {
        let file = GoFile::parse("p.go", GO.as_bytes().to_vec()).unwrap();
        let mut out = String::new();
        visit(file.root(), &mut |n| {
            if n.kind() == "identifier"
                && file.text(n) == name
                && super::super::syntax::line_of(n) == line
            {
                out = match resolve(&file, n) {
                    Some(Binding::Local { decl, index, .. }) => {
                        format!("local {} #{index}", super::super::syntax::line_of(decl))
                    }
                    Some(Binding::Param { index, .. }) => format!("param {index:?}"),
                    Some(Binding::Bound { decl }) => {
                        format!("bound {}", super::super::syntax::line_of(decl))
                    }
                    Some(Binding::Global { .. }) => "global".into(),
                    None => "none".into(),
                };
            }
            true
        });
        out
    }

    #[test]
    fn names_resolve_through_blocks_literals_and_the_package() {
        assert_eq!(binding_kind(10, "done"), "local 6 #0");
        assert_eq!(binding_kind(11, "n"), "param Some(0)");
        assert_eq!(binding_kind(11, "j"), "bound 8");
        assert_eq!(binding_kind(11, "global"), "global");
        assert_eq!(binding_kind(11, "cancel"), "local 7 #1");
        // `ctx, cancel := context.WithCancel(ctx)`: the ctx on the right is the parameter.
        assert_eq!(binding_kind(7, "ctx"), "param Some(0)");
        assert_eq!(binding_kind(8, "jobs"), "param Some(1)");
        assert_eq!(binding_kind(11, "use"), "none");
    }
}
