//! The registry of diagnostic codes. A code never changes meaning once
//! released; `docs/diagnostics.md` has one entry per code (a test checks).

use super::Severity;

/// A stable diagnostic code: `E` for errors, `W` for warnings.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Code {
    pub id: &'static str,
    /// A kebab-case name, easier to remember than the number.
    pub name: &'static str,
    pub severity: Severity,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $ident:ident = $id:literal, $name:literal, $sev:ident;)*) => {
        impl Code {
            $(
                $(#[$doc])*
                pub const $ident: Code = Code { id: $id, name: $name, severity: Severity::$sev };
            )*
        }
        /// Every code, in numeric order.
        pub static ALL_CODES: &[&Code] = &[$(&Code::$ident),*];
    };
}

codes! {
    // Files and characters.
    /// The file is not valid UTF-8.
    INVALID_UTF8 = "E0001", "invalid-utf8", Error;
    /// The file is larger than the compiler accepts.
    FILE_TOO_LARGE = "E0002", "file-too-large", Error;
    /// A character that starts no token.
    UNEXPECTED_CHARACTER = "E0003", "unexpected-character", Error;
    /// A string literal with no closing quote on its line.
    UNTERMINATED_STRING = "E0004", "unterminated-string", Error;
    /// An unknown escape sequence in a string literal.
    INVALID_ESCAPE = "E0005", "invalid-escape", Error;

    // Syntax.
    /// A token the grammar does not allow where it stands.
    SYNTAX_ERROR = "E0010", "syntax-error", Error;
    /// The file ends in the middle of a declaration.
    UNEXPECTED_EOF = "E0011", "unexpected-end-of-file", Error;
    /// An expression nested deeper than the compiler accepts.
    NESTING_TOO_DEEP = "E0012", "nesting-too-deep", Error;
    /// Files of one policy directory declare different packages.
    PACKAGE_MISMATCH = "E0013", "package-mismatch", Error;

    // Literals.
    /// An integer literal that does not fit in 64 bits.
    INVALID_INT = "E0020", "invalid-integer", Error;
    /// An IP address or CIDR range literal that is not one.
    MALFORMED_IP = "E0021", "malformed-ip", Error;
    /// A duration literal with a bad unit or shape.
    MALFORMED_DURATION = "E0022", "malformed-duration", Error;
    /// A timestamp literal that is not RFC 3339.
    MALFORMED_TIMESTAMP = "E0023", "malformed-timestamp", Error;
    /// A size literal with a bad unit.
    MALFORMED_SIZE = "E0024", "malformed-size", Error;
    /// A decimal literal with more than four fractional digits, or out of range.
    MALFORMED_DECIMAL = "E0025", "malformed-decimal", Error;

    // Names.
    /// A name used as an entity type that no `entity` declares.
    UNKNOWN_ENTITY_TYPE = "E0100", "unknown-entity-type", Error;
    /// An attribute the schema does not declare on that type.
    UNKNOWN_ATTRIBUTE = "E0101", "unknown-attribute", Error;
    /// An action no `action` declares.
    UNKNOWN_ACTION = "E0102", "unknown-action", Error;
    /// Two declarations of the same name.
    DUPLICATE_DECLARATION = "E0103", "duplicate-declaration", Error;
    /// Two rules with the same `@id`.
    DUPLICATE_RULE_ID = "E0104", "duplicate-rule-id", Error;
    /// A store namespace no `store` declares.
    UNKNOWN_STORE = "E0105", "unknown-store", Error;
    /// A rate-limit domain or limit that is not declared.
    UNKNOWN_LIMIT = "E0106", "unknown-limit", Error;
    /// A name that is not a variable available here (`descriptor` in a rule)
    /// nor an action.
    UNKNOWN_VARIABLE = "E0107", "unknown-variable", Error;
    /// A function or method that does not exist.
    UNKNOWN_FUNCTION = "E0108", "unknown-function", Error;
    /// A type name that is neither a primitive nor a declared entity type.
    UNKNOWN_TYPE = "E0109", "unknown-type", Error;
    /// An option or setting that its block does not know (a store, a limit).
    UNKNOWN_SETTING = "E0110", "unknown-setting", Error;
    /// A rule id that no rule has (in a test's `because`).
    UNKNOWN_RULE = "E0111", "unknown-rule", Error;
    /// A type alias whose definition refers to itself.
    RECURSIVE_TYPE_ALIAS = "E0112", "recursive-type-alias", Error;
    /// An action group that declares `on`, `by` or a context, is in itself,
    /// or is used where only an action can be (a request, a test, a route).
    INVALID_ACTION_GROUP = "E0113", "invalid-action-group", Error;
    /// An id that an enumerated entity type does not declare.
    UNKNOWN_ENTITY_ID = "E0114", "unknown-entity-id", Error;

    // Types.
    /// An operand or argument of the wrong type.
    TYPE_MISMATCH = "E0200", "type-mismatch", Error;
    /// An optional attribute read without a `has` guard.
    UNGUARDED_OPTIONAL = "E0201", "unguarded-optional-attribute", Error;
    /// A condition that is not a `Bool`.
    CONDITION_NOT_BOOL = "E0202", "condition-not-bool", Error;
    /// A set whose elements have different types.
    MIXED_SET = "E0203", "mixed-set", Error;
    /// A wrong number of arguments.
    ARITY = "E0204", "wrong-argument-count", Error;
    /// A computation the compiler can prove always fails (overflow).
    CONSTANT_OVERFLOW = "E0205", "constant-overflow", Error;

    // Rate limits, stores, HTTP mapping.
    /// A limit that can never let a request through or never counts.
    IMPOSSIBLE_LIMIT = "E0300", "impossible-limit", Error;
    /// A store whose `max_ttl` is below its `ttl`, or a zero limit.
    INVALID_STORE = "E0301", "invalid-store", Error;
    /// A setting given twice, with the wrong kind of value, or a required one
    /// missing.
    INVALID_SETTING = "E0302", "invalid-setting", Error;
    /// An HTTP mapping that does not produce a well-typed request.
    INVALID_HTTP_MAPPING = "E0303", "invalid-http-mapping", Error;

    // Tests.
    /// Test data that does not conform to the schema.
    INVALID_TEST_DATA = "E0400", "invalid-test-data", Error;
    /// A test that lacks a principal or a resource for its expectations.
    INCOMPLETE_TEST = "E0401", "incomplete-test", Error;
    /// Two tests with the same name.
    DUPLICATE_TEST = "E0402", "duplicate-test", Error;

    /// A bug in the compiler: a checked package it could not lower. Please
    /// report it with the policy that caused it.
    INTERNAL_ERROR = "E0900", "internal-error", Error;

    // Warnings.
    /// An empty policy file.
    EMPTY_FILE = "W0001", "empty-file", Warning;
    /// A rule whose scope no request can match.
    RULE_NEVER_APPLIES = "W0100", "rule-never-applies", Warning;
    /// A declaration nothing refers to.
    UNUSED_DECLARATION = "W0101", "unused-declaration", Warning;
    /// An action that no permit rule can allow: every request for it is denied.
    ACTION_NEVER_PERMITTED = "W0102", "action-never-permitted", Warning;
    /// A condition that is always true or always false.
    CONSTANT_CONDITION = "W0103", "constant-condition", Warning;
    /// A rule that can never apply: a `when` clause is always false, or an
    /// `unless` clause always true, whatever the request.
    CONDITION_ALWAYS_FALSE = "W0104", "condition-always-false", Warning;
    /// A rule that can never apply: it compares the principal with an
    /// entity of a type the principal never has (the actions' `by` lists,
    /// or a store's, fix its types).
    PRINCIPAL_NEVER_MATCHES = "W0105", "principal-never-matches", Warning;
    /// A rule that can never apply: it compares the resource with an entity
    /// of a type the resource never has.
    RESOURCE_NEVER_MATCHES = "W0106", "resource-never-matches", Warning;
    /// A rule that can never apply: it tests for an action it does not cover.
    ACTION_NEVER_MATCHES = "W0107", "action-never-matches", Warning;
    /// A rate limit that stops applying when a descriptor entry is missing,
    /// where the condition reads as if it applied (`descriptor.plan !=
    /// "enterprise"` skips descriptors without `plan`): it fails open.
    LIMIT_FAILS_OPEN = "W0108", "limit-fails-open", Warning;
}
