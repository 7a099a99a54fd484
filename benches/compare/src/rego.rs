//! The regorus side, on its RVM: the Rego policy is compiled once to an RVM
//! program, loaded into one reusable `RegoVM`, and each evaluation only sets
//! `input` and executes, as regorus's own `hot` benchmarks do. [`Interpreter`]
//! is regorus's tree-walking evaluator, used only where the RVM cannot hold
//! the policy (see `scaling`).

use std::num::NonZeroUsize;

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::RegoVM;
use regorus::{Engine, PolicyLengthConfig, Value};

pub const POLICY: &str = include_str!("../policies/document-sharing/policy.rego");

/// The entry point of the document-sharing policy.
pub const ALLOW: &str = "data.docs.allow";

/// A regorus engine holding one policy file.
fn engine(name: &str, source: &str) -> Engine {
    let mut engine = Engine::new();
    // The 10,000-rule scaling policy is about 1.3 MB and 70,000 lines, past
    // regorus's default guard on policy files (1 MiB, 20,000 lines); the guard
    // is checked when loading and does not affect evaluation.
    engine.set_policy_length_config(PolicyLengthConfig {
        max_file_bytes: NonZeroUsize::new(64 << 20).expect("non-zero"),
        max_lines: NonZeroUsize::new(1 << 20).expect("non-zero"),
        ..PolicyLengthConfig::default()
    });
    engine
        .add_policy(name.to_owned(), source.to_owned())
        .unwrap_or_else(|e| panic!("Rego policy: {e}"));
    engine
}

/// regorus's JSON path: text to a `Value` for `input` (or `data`).
pub fn decode(text: &str) -> Value {
    Value::from_json_str(text).unwrap_or_else(|e| panic!("Rego JSON: {e}"))
}

/// A Rego policy compiled to an RVM program, in a VM ready to run.
pub struct Rvm {
    vm: RegoVM,
}

impl Rvm {
    /// The document-sharing policy of `policies/document-sharing/`.
    pub fn document_sharing() -> Self {
        Self::new("policy.rego", POLICY, ALLOW)
    }

    /// Parses `source`, compiles it for `entry_point` and then to an RVM
    /// program; panics on any error.
    pub fn new(name: &str, source: &str, entry_point: &str) -> Self {
        Self::try_new(name, source, entry_point).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Rvm::new`], but reports an RVM compile error (such as a program
    /// over the RVM's 65,535-instruction limit) instead of panicking.
    pub fn try_new(name: &str, source: &str, entry_point: &str) -> Result<Self, String> {
        let compiled = engine(name, source)
            .compile_with_entrypoint(&entry_point.into())
            .map_err(|e| format!("Rego compile: {e}"))?;
        let program = Compiler::compile_from_policy(&compiled, &[entry_point])
            .map_err(|e| format!("RVM compile: {e}"))?;
        let mut vm = RegoVM::new();
        vm.load_program(program);
        Ok(Self { vm })
    }

    /// Sets the `data` document.
    pub fn with_data(mut self, data: Value) -> Self {
        self.vm
            .set_data(data)
            .unwrap_or_else(|e| panic!("RVM data: {e}"));
        self
    }

    /// Evaluates the entry point for `input`. Cloning a `Value` copies a
    /// reference-counted pointer, not the document.
    pub fn eval(&mut self, input: &Value) -> Value {
        self.vm.set_input(input.clone());
        self.vm
            .execute()
            .unwrap_or_else(|e| panic!("RVM execute: {e}"))
    }

    /// The decision: `true` only for a boolean `true` result.
    pub fn allows(&mut self, input: &Value) -> bool {
        self.eval(input) == Value::from(true)
    }
}

/// regorus's interpreter, prepared: policy parsed once, one rule evaluated
/// per call.
pub struct Interpreter {
    engine: Engine,
    rule: String,
}

impl Interpreter {
    pub fn new(name: &str, source: &str, rule: &str) -> Self {
        Self {
            engine: engine(name, source),
            rule: rule.to_owned(),
        }
    }

    pub fn eval(&mut self, input: &Value) -> Value {
        self.engine.set_input(input.clone());
        self.engine
            .eval_rule(self.rule.clone())
            .unwrap_or_else(|e| panic!("Rego eval: {e}"))
    }

    pub fn allows(&mut self, input: &Value) -> bool {
        self.eval(input) == Value::from(true)
    }
}
