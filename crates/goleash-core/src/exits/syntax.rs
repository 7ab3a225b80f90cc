//! A Go file's syntax tree, and the small questions every analysis asks of it: the text of
//! a node, the statements on a line, what encloses a node.

use tree_sitter::{Node, Parser, Tree};

/// One Go source file, parsed.
pub struct GoFile {
    /// Where it was read from, for messages.
    pub path: String,
    source: String,
    tree: Tree,
}

impl std::fmt::Debug for GoFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoFile").field("path", &self.path).finish()
    }
}

/// Why bytes are not a Go file goleash can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotGo {
    /// Not text: a NUL byte, or not UTF-8 (Go source is UTF-8).
    NotText,
    /// The parser found a syntax error at this line.
    Syntax(u32),
    /// No `package` clause.
    NoPackage,
}

impl std::fmt::Display for NotGo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotGo::NotText => f.write_str("is not UTF-8 text"),
            NotGo::Syntax(line) => write!(f, "does not parse as Go (line {line})"),
            NotGo::NoPackage => f.write_str("has no package clause"),
        }
    }
}

impl GoFile {
    /// Parses the bytes of one file.
    pub fn parse(path: &str, bytes: Vec<u8>) -> Result<GoFile, NotGo> {
        if bytes.contains(&0) {
            return Err(NotGo::NotText);
        }
        let source = String::from_utf8(bytes).map_err(|_| NotGo::NotText)?;
        let mut parser = Parser::new();
        parser
            .set_language(&tree_sitter_go::LANGUAGE.into())
            .expect("the Go grammar matches the tree-sitter library");
        let tree = parser
            .parse(&source, None)
            .expect("a parser with a language and no timeout always returns a tree");
        let root = tree.root_node();
        if root.has_error() {
            return Err(NotGo::Syntax(first_error_line(root)));
        }
        if children(root).all(|c| c.kind() != "package_clause") {
            return Err(NotGo::NoPackage);
        }
        Ok(GoFile {
            path: path.to_string(),
            source,
            tree,
        })
    }

    /// The file's top node.
    pub fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// The source text of a node.
    pub fn text<'t>(&'t self, node: Node<'t>) -> &'t str {
        &self.source[node.byte_range()]
    }

    /// A node's text on one line, spaces collapsed: what messages quote.
    pub fn quote(&self, node: Node<'_>) -> String {
        let text = self.text(node);
        let mut out = String::with_capacity(text.len());
        for word in text.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        if out.chars().count() > 80 {
            let cut: String = out.chars().take(77).collect();
            return format!("{cut}…");
        }
        out
    }

    /// Line `line` (1-based) as written, without its line break.
    pub fn line(&self, line: u32) -> Option<&str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        self.source.lines().nth(index)
    }

    /// The name in the `package` clause.
    pub fn package_name(&self) -> &str {
        children(self.root())
            .find(|c| c.kind() == "package_clause")
            .and_then(|c| children(c).find(|n| n.kind() == "package_identifier"))
            .map_or("", |n| self.text(n))
    }

    /// Whether `path` is imported, and under which name.
    pub fn import_name(&self, path: &str) -> Option<String> {
        let mut found = None;
        visit(self.root(), &mut |n| {
            if n.kind() == "import_spec"
                && let Some(p) = n.child_by_field_name("path")
                && self.text(p).trim_matches(['"', '`']) == path
            {
                found = Some(match n.child_by_field_name("name") {
                    Some(name) => self.text(name).to_string(),
                    None => path.rsplit('/').next().unwrap_or(path).to_string(),
                });
            }
            !matches!(
                n.kind(),
                "function_declaration" | "method_declaration" | "type_declaration"
            )
        });
        found
    }
}

fn first_error_line(root: Node<'_>) -> u32 {
    let mut line = None;
    visit(root, &mut |n| {
        if line.is_some() {
            return false;
        }
        if n.is_error() || n.is_missing() {
            line = Some(n.start_position().row as u32 + 1);
            return false;
        }
        n.has_error()
    });
    line.unwrap_or(1)
}

/// The 1-based line a node starts on.
pub fn line_of(node: Node<'_>) -> u32 {
    node.start_position().row as u32 + 1
}

/// Whether a node covers line `line` (1-based).
pub fn covers(node: Node<'_>, line: u32) -> bool {
    let row = line as usize - 1;
    node.start_position().row <= row && row <= node.end_position().row
}

/// The children of a node, named ones only.
pub fn children<'t>(node: Node<'t>) -> impl Iterator<Item = Node<'t>> {
    (0..node.named_child_count()).filter_map(move |i| node.named_child(i as u32))
}

/// Walks the named nodes under `node` in source order, `node` included; `enter` returns
/// whether to go into a node's children.
pub fn visit<'t>(node: Node<'t>, enter: &mut dyn FnMut(Node<'t>) -> bool) {
    let mut cursor = node.walk();
    let mut descend = true;
    loop {
        let current = cursor.node();
        if descend && current.is_named() && !enter(current) {
            descend = false;
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        descend = true;
        loop {
            if cursor.node().id() == node.id() {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}

/// Whether a node is a function: a declaration, a method or a literal.
pub fn is_function(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "function_declaration" | "method_declaration" | "func_literal"
    )
}

/// The innermost function around a node (the node itself excluded).
pub fn enclosing_function(node: Node<'_>) -> Option<Node<'_>> {
    let mut up = node.parent();
    while let Some(n) = up {
        if is_function(n) {
            return Some(n);
        }
        up = n.parent();
    }
    None
}

/// Whether `inner` is `outer` or inside it (both of one tree).
pub fn within(inner: Node<'_>, outer: Node<'_>) -> bool {
    outer.start_byte() <= inner.start_byte() && inner.end_byte() <= outer.end_byte()
}

/// The nodes under `function` that belong to it, not to a function literal inside it.
pub fn own_nodes<'t>(function: Node<'t>, wanted: &mut dyn FnMut(Node<'t>)) {
    let Some(body) = function.child_by_field_name("body") else {
        return;
    };
    visit(body, &mut |n| {
        if n.kind() == "func_literal" {
            return false;
        }
        wanted(n);
        true
    });
}

/// The expression inside any parentheses.
pub fn unparen(mut node: Node<'_>) -> Node<'_> {
    while node.kind() == "parenthesized_expression" {
        match node.named_child(0) {
            Some(inner) => node = inner,
            None => break,
        }
    }
    node
}

/// For `a.b(…)`: `a`, `b` and the call's arguments.
pub fn method_call<'t>(file: &'t GoFile, call: Node<'t>) -> Option<(Node<'t>, &'t str, Node<'t>)> {
    if call.kind() != "call_expression" {
        return None;
    }
    let function = unparen(call.child_by_field_name("function")?);
    if function.kind() != "selector_expression" {
        return None;
    }
    let operand = function.child_by_field_name("operand")?;
    let field = function.child_by_field_name("field")?;
    let args = call.child_by_field_name("arguments")?;
    Some((operand, file.text(field), args))
}

/// For `pkg.f(…)` with `pkg` a plain identifier: `pkg`, `f`.
pub fn qualified_call<'t>(file: &'t GoFile, call: Node<'t>) -> Option<(&'t str, &'t str)> {
    if call.kind() != "call_expression" {
        return None;
    }
    let function = unparen(call.child_by_field_name("function")?);
    if function.kind() != "selector_expression" {
        return None;
    }
    let operand = function.child_by_field_name("operand")?;
    if operand.kind() != "identifier" {
        return None;
    }
    let field = function.child_by_field_name("field")?;
    Some((file.text(operand), file.text(field)))
}

/// The arguments of a call, in order.
pub fn arguments<'t>(call: Node<'t>) -> Vec<Node<'t>> {
    call.child_by_field_name("arguments")
        .map(|a| children(a).filter(|n| n.kind() != "comment").collect())
        .unwrap_or_default()
}

/// The expressions of an `expression_list` (or the node itself when it is not one).
pub fn expressions(node: Node<'_>) -> Vec<Node<'_>> {
    if node.kind() == "expression_list" {
        children(node).filter(|n| n.kind() != "comment").collect()
    } else {
        vec![node]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_and_refuses_what_is_not() {
        let file = GoFile::parse("a.go", b"package p\n\nfunc f() {}\n".to_vec()).unwrap();
        assert_eq!(file.package_name(), "p");
        assert_eq!(file.line(3), Some("func f() {}"));
        assert_eq!(
            GoFile::parse("b.go", b"package p\nfunc f( {\n".to_vec()).unwrap_err(),
            NotGo::Syntax(2)
        );
        assert_eq!(
            GoFile::parse("c.go", vec![0x7f, b'E', b'L', b'F', 0]).unwrap_err(),
            NotGo::NotText
        );
        assert_eq!(
            GoFile::parse("d.go", b"// nothing\n".to_vec()).unwrap_err(),
            NotGo::NoPackage
        );
    }
}
