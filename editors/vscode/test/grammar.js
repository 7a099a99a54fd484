// The TextMate grammar under VS Code's own tokenizer (vscode-textmate over
// Oniguruma): every example policy of the repository tokenizes with nothing
// marked invalid, every keyword of the lexer (compiler/src/lex.rs) is
// coloured as one, and the lines below get the scopes they must. Exits
// non-zero naming the file, line and token of each failure.
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const here = path.resolve(__dirname, "..");
const repo = path.resolve(here, "..", "..");
const grammarFile = path.join(here, "syntaxes", "reaper.tmLanguage.json");

// [line, token text, a scope the token must have (a prefix)]. `!` before the
// scope: the token must have no scope with that prefix.
const EXPECTATIONS = [
  ["permit read on Document when resource.public;", "permit", "keyword"],
  ["permit read on Document when resource.public;", "when", "keyword.control"],
  ["permit read on Document when resource.public;", "Document", "entity.name.type"],
  ["permit read on Document when resource.public;", "resource", "variable.language"],
  ["permit read on Document when resource.public;", "public", "variable.other.property"],
  ["forbid * on Doc unless context.mfa; // why", "forbid", "keyword"],
  ["forbid * on Doc unless context.mfa; // why", "// why", "comment.line.double-slash"],
  ["// a comment with permit and \"quotes\"", "// a comment with permit and \"quotes\"", "comment"],
  ['@id("owner-edits")', "id", "storage.type.annotation"],
  ['@id("owner-edits")', "owner-edits", "string.quoted.double"],
  ['x like "a\\*b\\u{1F600}"', "\\*", "constant.character.escape"],
  ['x like "a\\*b\\u{1F600}"', "\\u{1F600}", "constant.character.escape"],
  ['"unterminated', "unterminated", "string"],
  ["limit per_ip: 100 per 10s by descriptor.remote_address;", "10s", "constant.numeric"],
  ["limit per_ip: 100 per 10s by descriptor.remote_address;", "per_ip", "variable.other.constant"],
  ["limit per_ip: 100 per 10s by descriptor.remote_address;", "100", "constant.numeric.integer"],
  ["limit per_ip: 100 per 10s by descriptor.remote_address;", "descriptor", "variable.language"],
  ["limit x: 1_000 per hour, sliding_window by descriptor.org;", "1_000", "constant.numeric"],
  ["limit x: 1_000 per hour, sliding_window by descriptor.org;", "hour", "support.constant"],
  ["limit x: 1_000 per hour, sliding_window by descriptor.org;", "sliding_window", "support.constant"],
  ["store sessions by Service { ttl 30m, max_value 16KiB }", "sessions", "entity.name.namespace"],
  ["store sessions by Service { ttl 30m, max_value 16KiB }", "30m", "constant.numeric.duration"],
  ["store sessions by Service { ttl 30m, max_value 16KiB }", "16KiB", "constant.numeric.size"],
  ["store sessions by Service { ttl 30m, max_value 16KiB }", "ttl", "support.constant"],
  ["when context.now >= 2026-12-24T00:00:00Z + 1h30m", "2026-12-24T00:00:00Z", "constant.numeric.timestamp"],
  ["when context.now >= 2026-12-24T00:00:00Z + 1h30m", "1h30m", "constant.numeric.duration"],
  ["when context.now >= 2026-12-24T00:00:00Z + 1h30m", ">=", "keyword.operator.comparison"],
  ["now: 2026-06-01T09:00:00.250+02:00,", "2026-06-01T09:00:00.250+02:00", "constant.numeric.timestamp"],
  ["when x in 10.0.0.0/8 || x in ip(\"fd00::/8\") || s > 12.5", "10.0.0.0/8", "constant.numeric.ip"],
  ["when x in 10.0.0.0/8 || x in ip(\"fd00::/8\") || s > 12.5", "fd00::/8", "constant.numeric.ip"],
  ["when x in 10.0.0.0/8 || x in ip(\"fd00::/8\") || s > 12.5", "fd00::/8", "string"],
  ["when x in 10.0.0.0/8 || x in ip(\"fd00::/8\") || s > 12.5", "ip", "support.function"],
  ["when x in 10.0.0.0/8 || x in ip(\"fd00::/8\") || s > 12.5", "12.5", "constant.numeric.decimal"],
  ["when x in 10.0.0.0/8 || x in ip(\"fd00::/8\") || s > 12.5", "||", "keyword.operator.logical"],
  ["when x in 10.0.0.0/8 || x in ip(\"fd00::/8\") || s > 12.5", "in", "keyword.operator.word"],
  ['principal == User::"alice"', "User", "entity.name.type"],
  ['principal == User::"alice"', "::", "punctuation.separator.namespace"],
  ['principal == User::"alice"', "alice", "string"],
  ["entity User in [Team] { email?: String, tags: Set<String> }", "User", "entity.name.type"],
  ["entity User in [Team] { email?: String, tags: Set<String> }", "email", "variable.other.property"],
  ["entity User in [Team] { email?: String, tags: Set<String> }", "String", "support.type"],
  ["entity User in [Team] { email?: String, tags: Set<String> }", "Set", "support.type"],
  ["entity User in [Team] { email?: String, tags: Set<String> }", "Team", "entity.name.type"],
  ['entity App enum ["web", "cli"]', "enum", "keyword"],
  ["when resource has limit && resource.limit > 0", "limit", "!keyword"],
  ['when context.key.starts_with("user:" + principal.id())', "starts_with", "entity.name.function"],
  ['GET "/docs/{id}" => read Doc::(param("id"));', "GET", "support.constant.http-method"],
  ['GET "/docs/{id}" => read Doc::(param("id"));', "param", "support.function"],
  ['GET "/docs/{id}" => read Doc::(param("id"));', "=>", "keyword.operator"],
  ['expect permit store.read with { key: "k" } because ["backend"];', "expect", "keyword"],
  ['expect permit store.read with { key: "k" } because ["backend"];', "with", "keyword"],
  ['expect permit store.read with { key: "k" } because ["backend"];', "read", "variable.other.property"],
  ["at 30s: 1 hit => over_limit login, remaining 0;", "over_limit", "keyword"],
  ["at 30s: 1 hit => over_limit login, remaining 0;", "hit", "keyword"],
  // What the lexer reports is marked invalid.
  ["when a & b", "&", "invalid"],
  ["when x == 'single'", "'single'", "invalid"],
  ['when x == "bad \\q"', "\\q", "invalid"],
  ["# not a comment", "# not a comment", "invalid"],
  ["when a / b", "/", "invalid"],
];

async function loadGrammar() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === "source.reaper"
        ? vsctm.parseRawGrammar(fs.readFileSync(grammarFile, "utf8"), grammarFile)
        : null,
  });
  return registry.loadGrammar("source.reaper");
}

function tokenize(grammar, line, state = vsctm.INITIAL) {
  const result = grammar.tokenizeLine(line, state);
  const tokens = result.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes }));
  return { tokens, state: result.ruleStack, stoppedEarly: result.stoppedEarly };
}

function exampleFiles() {
  const examples = path.join(repo, "examples");
  const files = [];
  for (const dir of fs.readdirSync(examples).sort()) {
    const full = path.join(examples, dir);
    if (!fs.statSync(full).isDirectory()) continue;
    for (const name of fs.readdirSync(full).sort()) {
      if (name.endsWith(".reaper")) files.push(path.join(full, name));
    }
  }
  return files;
}

// The lexer's keywords: its `#[token("word")]` attributes that are words.
function lexerKeywords() {
  const lex = fs.readFileSync(path.join(repo, "compiler", "src", "lex.rs"), "utf8");
  return [...lex.matchAll(/#\[token\("([a-z_]+)"\)\]/g)].map((m) => m[1]);
}

async function main() {
  const grammar = await loadGrammar();
  const failures = [];

  // 1. Every example policy, line by line, carrying the state across lines.
  const files = exampleFiles();
  let lines = 0;
  for (const file of files) {
    const rel = path.relative(repo, file);
    let state = vsctm.INITIAL;
    fs.readFileSync(file, "utf8")
      .split(/\r?\n/)
      .forEach((line, i) => {
        lines += 1;
        const result = tokenize(grammar, line, state);
        state = result.state;
        if (result.stoppedEarly) failures.push(`${rel}:${i + 1}: tokenizing stopped early`);
        for (const token of result.tokens) {
          const bad = token.scopes.find((s) => s.startsWith("invalid"));
          if (bad) failures.push(`${rel}:${i + 1}: \`${token.text}\` is marked ${bad}`);
        }
      });
  }
  if (files.length === 0) failures.push(`no .reaper files under ${path.join(repo, "examples")}`);

  // 2. Every keyword of the lexer, alone on a line, is coloured as a keyword.
  const keywords = lexerKeywords();
  if (keywords.length < 30) failures.push(`found only ${keywords.length} keywords in compiler/src/lex.rs`);
  for (const word of keywords) {
    const [token] = tokenize(grammar, word).tokens;
    const ok = token.text === word && token.scopes.some((s) => /^(keyword|variable\.language|constant\.language)\./.test(s));
    if (!ok) failures.push(`keyword \`${word}\` has scopes ${token.scopes.join(" ")}, expected a keyword scope`);
  }

  // 3. Specific lines.
  for (const [line, text, want] of EXPECTATIONS) {
    const negate = want.startsWith("!");
    const prefix = negate ? want.slice(1) : want;
    const tokens = tokenize(grammar, line).tokens;
    const token = tokens.find((t) => t.text === text);
    if (!token) {
      const got = tokens.map((t) => JSON.stringify(t.text)).join(" ");
      failures.push(`in \`${line}\`: no token \`${text}\` (tokens: ${got})`);
      continue;
    }
    if (token.scopes.some((s) => s.startsWith(prefix)) === negate) {
      failures.push(
        `in \`${line}\`: \`${text}\` has scopes ${token.scopes.join(" ")}; expected ${negate ? "none" : "one"} starting with ${prefix}`,
      );
    }
  }

  if (failures.length) {
    console.error(`grammar test: ${failures.length} failure(s)\n  ${failures.join("\n  ")}`);
    process.exit(1);
  }
  console.log(
    `grammar test: ${files.length} example files (${lines} lines) without invalid tokens, ` +
      `${keywords.length} lexer keywords, ${EXPECTATIONS.length} expectations: ok`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
