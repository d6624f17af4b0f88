//! Entry point of the `optidb-lsp` binary.
fn main() {}
