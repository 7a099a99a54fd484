# Rego equivalent of examples/document-sharing/rules.reaper: allow when at
# least one permit applies and no forbid does. Each `permit if` / `forbid if`
# body is one Reaper rule; the comment above it names the rule's `@id`.
#
# `input` is the Reaper request JSON, unchanged (see ../../README.md):
#   {principal: {type, id, attrs, parents}, action, resource: {…},
#    context: {source_ip, mfa, now}, entities: [{type, id, attrs, parents}]}
# Entity references are `{"type", "id"}` objects.
#
# Idiomatic equivalents, and where they differ:
# - `in` over the entity hierarchy uses `graph.reachable` on the parent edges
#   the request carries (computed once per evaluation, only when a rule needs
#   it). `principal in resource.editors` is plain set membership: in this
#   schema a User's ancestors are Teams and Roles, never Users, so the two
#   agree (Rego has no schema to say so; a Rego author writes membership).
# - `x in 10.0.0.0/8` is `net.cidr_contains`.
# - Timestamps are RFC 3339 strings compared after `time.parse_rfc3339_ns`.
# - `email like "*@example.com"` is `endswith(email, "@example.com")`, exactly
#   the same test for a pattern with a single leading `*` (`glob.match` would
#   treat `.` as a separator by default).
# - Rego computes the decision only, not the set of deciding rule ids that
#   Reaper and Cedar return with it.
package docs

import rego.v1

default allow := false

allow if {
	permit
	not forbid
}

# ---------------------------------------------------------------- helpers

uid(e) := {"type": e.type, "id": e.id}

principal := uid(input.principal)

entities := array.concat([input.principal, input.resource], object.get(input, "entities", []))

# Parent edges of every entity the request carries. A parent without data of
# its own (say `Role::"admin"`) still needs a vertex: `graph.reachable` only
# reports vertices that are keys of the graph.
parent_edges := object.union(
	{uid(p): [] | some e in entities; some p in object.get(e, "parents", [])},
	{uid(e): [uid(p) | some p in object.get(e, "parents", [])] | some e in entities},
)

# The principal itself and all its ancestors.
principal_in := graph.reachable(parent_edges, [principal])

# The resource itself and all its ancestors.
resource_in := graph.reachable(parent_edges, [uid(input.resource)])

is_document if input.resource.type == "Document"

is_folder if input.resource.type == "Folder"

owner_is_principal if principal == input.resource.attrs.owner

from_office if net.cidr_contains("10.0.0.0/8", input.context.source_ip)

from_office if net.cidr_contains("192.168.100.0/24", input.context.source_ip)

corp_email if endswith(input.principal.attrs.email, "@example.com")

# ---------------------------------------------------------------- permits

# public-read
permit if {
	input.action == "read"
	is_document
	input.resource.attrs.public == true
}

# owner-all
permit if {
	is_document
	owner_is_principal
}

# editors
permit if {
	input.action in {"read", "comment", "edit"}
	is_document
	principal in input.resource.attrs.editors
}

# team-share
permit if {
	input.action in {"read", "comment"}
	is_document
	input.resource.attrs.team in principal_in
}

# handbook
permit if {
	input.action == "read"
	is_document
	{"type": "Folder", "id": "handbook"} in resource_in
	{"type": "Team", "id": "all"} in principal_in
}

# handbook-list
permit if {
	input.action == "list"
	is_folder
	{"type": "Folder", "id": "handbook"} in resource_in
	{"type": "Team", "id": "all"} in principal_in
}

# folder-owner
permit if {
	input.action in {"list", "create"}
	is_folder
	owner_is_principal
}

# admins
permit if {
	input.resource.type in {"Document", "Folder"}
	{"type": "Role", "id": "admin"} in principal_in
}

# ---------------------------------------------------------------- forbids

# mfa-delete
forbid if {
	input.action in {"delete", "share"}
	is_document
	not input.context.mfa
}

# office-only
forbid if {
	is_document
	"confidential" in input.resource.attrs.labels
	not from_office
}

# contractors
forbid if {
	is_document
	input.principal.attrs.contractor == true
	"confidential" in input.resource.attrs.labels
}

# contractor-changes
forbid if {
	input.action in {"edit", "delete", "share"}
	is_document
	input.principal.attrs.contractor == true
	not net.cidr_contains("10.0.0.0/8", input.context.source_ip)
}

# clearance
forbid if {
	input.action in {"read", "comment", "edit"}
	is_document
	input.principal.attrs.clearance < input.resource.attrs.min_clearance
	not owner_is_principal
}

# share-needs-corp-email
forbid if {
	input.action == "share"
	is_document
	not corp_email
}

# embargo
forbid if {
	input.action in {"read", "comment"}
	is_document
	time.parse_rfc3339_ns(input.context.now) < time.parse_rfc3339_ns(input.resource.attrs.embargo_until)
	not owner_is_principal
}
