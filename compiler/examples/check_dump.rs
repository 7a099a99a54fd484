fn main() {
    let mut sources = reaper_compiler::source::Sources::new();
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap();
        sources.add(path, text);
    }
    let checked = reaper_compiler::check(&sources);
    for d in &checked.diagnostics {
        let f = sources.file(d.primary.span.file);
        let lc = f.line_col(d.primary.span.start);
        println!("{}:{}:{}: {}[{}]: {} | {}", f.name, lc.line, lc.column, d.severity().as_str(), d.code.id, d.message, d.help.clone().unwrap_or_default());
    }
    println!("rules: {} domains: {} stores: {} tests: {}", checked.package.rules.len(), checked.package.domains.len(), checked.package.stores.len(), checked.package.tests.len());
}
