fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let parsed = reaper_compiler::parse::parse(reaper_compiler::source::FileId(0), &text);
    for d in &parsed.diagnostics {
        println!("{} {} {:?}", d.code.id, d.message, d.primary.span);
    }
    println!("items: {}", parsed.file.items.len());
    if std::env::args().nth(2).is_some() { println!("{:#?}", parsed.file); }
}
