// Tokenizes every example policy of the repository with the extension's
// TextMate grammar (the engine VS Code uses: vscode-textmate over
// Oniguruma) and checks what the grammar must get right. Exits non-zero,
// naming the file, line and token, on any failure.
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.resolve(__dirname, "..");
const examples = path.resolve(root, "..", "..", "examples");
const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));

async function main() {
  await oniguruma.loadWASM(wasm.buffer);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.reaper") return null;
      const file = path.join(root, "syntaxes", "reaper.tmLanguage.json");
      return vsctm.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
    },
  });
  const grammar = await registry.loadGrammar("source.reaper");
  const failures = [];
  // Every token text seen, with its scopes, for the expectations below.
  const seen = new Map();
  let files = 0;
  let lines = 0;
  for (const dir of fs.readdirSync(examples)) {
    const full = path.join(examples, dir);
    if (!fs.statSync(full).isDirectory()) continue;
    for (const name of fs.readdirSync(full).filter((n) => n.endsWith(".reaper"))) {
      files += 1;
      const text = fs.readFileSync(path.join(full, name), "utf8");
      let state = vsctm.INITIAL;
      text.split("\n").forEach((line, i) => {
        lines += 1;
        const result = grammar.tokenizeLine(line, state);
        if (result.stoppedEarly) failures.push(`${dir}/${name}:${i + 1}: tokenizing stopped early`);
        for (const token of result.tokens) {
          const word = line.slice(token.startIndex, token.endIndex).trim();
          if (!word) continue;
          if (!seen.has(word)) seen.set(word, { scopes: token.scopes, at: `${dir}/${name}:${i + 1}` });
          if (token.scopes.some((s) => s.startsWith("invalid"))) {
            failures.push(`${dir}/${name}:${i + 1}: \`${word}\` is marked invalid (${token.scopes.join(" ")})`);
          }
        }
        state = result.ruleStack;
      });
    }
  }
  const expect = (word, scope) => {
    const found = seen.get(word);
    if (!found) return failures.push(`no example contains \`${word}\``);
    if (!found.scopes.some((s) => s.startsWith(scope))) {
      failures.push(`${found.at}: \`${word}\` has scopes ${found.scopes.join(" ")}, expected one starting with ${scope}`);
    }
  };
  expect("permit", "keyword");
  expect("forbid", "keyword");
  expect("when", "keyword.control");
  expect("principal", "variable.language");
  expect("String", "support.type");
  expect("10s", "constant.numeric");
  expect("1_000", "constant.numeric");
  expect("2026-12-24T00:00:00Z", "constant.numeric");
  expect("10.0.0.0/8", "constant.numeric");
  expect("org-members-view", "string");
  expect("id", "storage.type.annotation");
  const comment = [...seen.entries()].find(([w]) => w.startsWith("//"));
  if (!comment || !comment[1].scopes.some((s) => s.startsWith("comment"))) failures.push("a `//` comment is not scoped as a comment");
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
  console.log(`grammar: ${files} example files, ${lines} lines tokenized; every expectation holds`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
