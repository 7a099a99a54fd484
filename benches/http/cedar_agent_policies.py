"""Writes cedar-agent's policy file (a JSON list of {"id", "content"}) from
benches/compare/policies/document-sharing/policies.cedar, the Cedar
equivalent of examples/document-sharing, rule for rule.

cedar-agent 0.2 runs cedar-policy 2.4, which predates `is` and the
`datetime` extension: `resource is Document` becomes the scope the actions
already imply (with `*`, the document actions), and times are epoch
milliseconds (the benchmark request sets no embargo, so no rule reads
one). Decisions are unchanged for the benchmark's requests."""
import json
import re
import sys

DOCUMENT_ACTIONS = 'action in [Action::"read", Action::"comment", Action::"edit", Action::"delete", Action::"share"]'

text = open(sys.argv[1]).read()
text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
policies = []
for chunk in re.split(r"(?=@id\()", text):
    chunk = chunk.strip()
    if not chunk.startswith("@id("):
        continue
    ident = re.match(r'@id\("([^"]+)"\)', chunk).group(1)
    body = chunk[chunk.index(")") + 1 :].strip()
    body = re.sub(r"\baction,\s*resource is Document", DOCUMENT_ACTIONS + ", resource", body)
    body = body.replace("resource is Document", "resource").replace("resource is Folder", "resource")
    policies.append({"id": ident, "content": body})
json.dump(policies, sys.stdout, indent=1)
