//! The plan builder on hand-written code: which chains it reads back, and
//! how rules group into nodes.

use reaper_lang::bytecode::{BinaryOp, Function, Op, UnaryOp, Var};

use super::*;

fn function(code: Vec<Op>) -> Function {
    Function { registers: 2, code }
}

const LABELS: GuardRead = GuardRead::Attr {
    var: Var::Resource,
    table: 0,
};
/// `r0 = resource.public`
const READ_PUBLIC: Op = Op::AttrOf {
    dst: 0,
    var: Var::Resource,
    table: 1,
};
const PUBLIC: GuardRead = GuardRead::Attr {
    var: Var::Resource,
    table: 1,
};

/// `resource.public && c<index> in resource.labels`, the false value
/// jumping to `target`; the caller ends it.
fn public_and_member(target: u32, index: u32) -> Vec<Op> {
    vec![
        READ_PUBLIC,
        Op::JumpIfFalse { cond: 0, target },
        Op::AttrOf {
            dst: 0,
            var: Var::Resource,
            table: 0,
        },
        Op::ConstBinary {
            op: BinaryOp::InSet,
            dst: 0,
            index,
            b: 0,
        },
    ]
}

/// The bundle's scalar constants as the engine holds them.
fn values(bundle: &Bundle) -> Vec<Val> {
    use reaper_lang::bundle::Constant;
    bundle
        .constants
        .iter()
        .map(|c| match c {
            Constant::Bool(b) => Val::Bool(*b),
            Constant::Int(n) => Val::Int(*n),
            Constant::String(s) => Val::Str(*s),
            _ => Val::Absent,
        })
        .collect()
}

#[test]
fn reads_an_and_chain_with_a_rest() {
    // resource.public && "x" in resource.labels && <anything>
    let mut code = public_and_member(6, 0);
    let f = function({
        code.extend([
            Op::JumpIfFalse { cond: 0, target: 6 },
            Op::Const { dst: 0, index: 1 },
            Op::Return { src: 0 },
        ]);
        code
    });
    let Some(Shape::All(atoms)) = shape(&f) else {
        panic!("not an && chain: {:?}", shape(&f));
    };
    assert_eq!(atoms.len(), 2);
    assert_eq!(atoms[0].read, PUBLIC);
    assert_eq!(atoms[0].test, AtomTest::Value);
    assert_eq!(atoms[1].read, LABELS);
    assert!(matches!(
        atoms[1].test,
        AtomTest::Binary(GuardTest {
            op: BinaryOp::InSet,
            other: GuardOperand::Constant(0),
            other_first: true
        })
    ));
}

#[test]
fn reads_a_whole_or_chain_and_refuses_a_partial_one() {
    // !resource.public || principal == resource.owner
    let whole = function(vec![
        READ_PUBLIC,
        Op::Unary {
            op: UnaryOp::Not,
            dst: 0,
            src: 0,
        },
        Op::JumpIfTrue { cond: 0, target: 6 },
        Op::Var {
            dst: 0,
            var: Var::Principal,
        },
        Op::AttrOf {
            dst: 1,
            var: Var::Resource,
            table: 2,
        },
        Op::Binary {
            op: BinaryOp::Eq,
            dst: 0,
            a: 0,
            b: 1,
        },
        Op::Return { src: 0 },
    ]);
    let Some(Shape::Any(atoms)) = shape(&whole) else {
        panic!("not a || chain: {:?}", shape(&whole));
    };
    assert!(atoms[0].negate);
    assert_eq!(atoms.len(), 2);
    // The same, but the second test is not one the index reads.
    let partial = function(vec![
        READ_PUBLIC,
        Op::JumpIfTrue { cond: 0, target: 3 },
        Op::Const { dst: 0, index: 1 },
        Op::Return { src: 0 },
    ]);
    assert_eq!(shape(&partial), None);
}

#[test]
fn a_jump_that_does_not_end_the_rule_stops_the_chain() {
    // The false value of the first test jumps to a `not`: `!(a && b)`.
    let f = function(vec![
        READ_PUBLIC,
        Op::JumpIfFalse { cond: 0, target: 3 },
        Op::AttrOf {
            dst: 0,
            var: Var::Resource,
            table: 3,
        },
        Op::Unary {
            op: UnaryOp::Not,
            dst: 0,
            src: 0,
        },
        Op::Return { src: 0 },
    ]);
    assert_eq!(shape(&f), None);
}

fn atom(read: GuardRead, test: AtomTest) -> Atom {
    Atom {
        read,
        test,
        negate: false,
    }
}

/// `context.@0 < c0`
fn context_below_c0() -> Atom {
    atom(
        GuardRead::Context { slot: 0 },
        AtomTest::Binary(GuardTest {
            op: BinaryOp::Lt,
            other: GuardOperand::Constant(0),
            other_first: false,
        }),
    )
}

fn bundle_with(constants: Vec<reaper_lang::bundle::Constant>) -> Bundle {
    Bundle {
        constants,
        patterns: vec![
            vec![
                PatternPart::Wildcard,
                PatternPart::Literal("@a.example".into()),
            ],
            vec![
                PatternPart::Literal("a".into()),
                PatternPart::Wildcard,
                PatternPart::Literal("b".into()),
            ],
        ],
        ..Bundle::default()
    }
}

#[test]
fn literal_tests_key_the_node_and_earlier_ones_become_steps() {
    use reaper_lang::bundle::Constant;
    let bundle = bundle_with(vec![
        Constant::Int(3),
        Constant::String(7),
        Constant::Bool(true),
    ]);
    let lt = context_below_c0();
    let member = atom(
        LABELS,
        AtomTest::Binary(GuardTest {
            op: BinaryOp::InSet,
            other: GuardOperand::Constant(1),
            other_first: true,
        }),
    );
    let public = atom(PUBLIC, AtomTest::Value);
    let Some((signature, Some(KeyValue::Words(_)))) = rule_plan(
        &bundle,
        &values(&bundle),
        &Shape::All(vec![lt, public, member, public]),
    ) else {
        panic!("no member key");
    };
    assert_eq!(
        signature.steps,
        vec![
            Step::Need {
                read: GuardRead::Context { slot: 0 },
                kind: Kind::Int
            },
            Step::Gate(public)
        ]
    );
    assert_eq!(signature.key, Some((KeyKind::Member, LABELS)));
    // A suffix pattern is a key; a pattern with a middle literal only needs
    // a string.
    let suffix = atom(PUBLIC, AtomTest::Like(0));
    let middle = atom(PUBLIC, AtomTest::Like(1));
    let Some((signature, Some(KeyValue::Text(text)))) =
        rule_plan(&bundle, &values(&bundle), &Shape::All(vec![middle, suffix]))
    else {
        panic!("no suffix key");
    };
    assert_eq!(&*text, "@a.example");
    assert_eq!(signature.key, Some((KeyKind::Suffix, PUBLIC)));
    assert_eq!(
        signature.steps,
        vec![Step::Need {
            read: PUBLIC,
            kind: Kind::Str
        }]
    );
}

#[test]
fn rules_without_a_gate_or_key_stay_linear() {
    use reaper_lang::bundle::Constant;
    let bundle = bundle_with(vec![Constant::Int(3)]);
    let lt = context_below_c0();
    assert!(rule_plan(&bundle, &values(&bundle), &Shape::All(vec![lt])).is_none());
    // A `||` with a test that is neither a gate nor the key.
    assert!(
        rule_plan(
            &bundle,
            &values(&bundle),
            &Shape::Any(vec![lt, atom(PUBLIC, AtomTest::Value)])
        )
        .is_none()
    );
    // Negated equality is not selective: it only needs its read.
    let ne = Atom {
        negate: true,
        ..atom(
            PUBLIC,
            AtomTest::Binary(GuardTest {
                op: BinaryOp::Eq,
                other: GuardOperand::Constant(0),
                other_first: false,
            }),
        )
    };
    assert!(rule_plan(&bundle, &values(&bundle), &Shape::All(vec![ne])).is_none());
}

#[test]
fn rules_alike_share_a_node_and_lone_ones_stay_linear() {
    use reaper_lang::bundle::{Constant, Effect, Rule, Scope};
    // Rules 0..3: resource.public && resource.labels contains c_i; rule 3:
    // only a comparison, linear.
    let member = |index: u32| {
        let mut code = public_and_member(4, index);
        code.push(Op::Return { src: 0 });
        code
    };
    let mut bundle = bundle_with(vec![
        Constant::String(1),
        Constant::String(2),
        Constant::String(1),
        Constant::Int(4),
    ]);
    bundle.functions = vec![
        function(member(0)),
        function(member(1)),
        function(member(2)),
        function(vec![
            Op::ContextField { dst: 0, slot: 0 },
            Op::BinaryConst {
                op: BinaryOp::Lt,
                dst: 0,
                a: 0,
                index: 3,
            },
            Op::Return { src: 0 },
        ]),
    ];
    bundle.rules = (0..4)
        .map(|i| Rule {
            id: format!("r{i}"),
            effect: Effect::Permit,
            scope: Scope::Any,
            annotations: Vec::new(),
            file: String::new(),
            line: 0,
            function: i,
            conditions: Vec::new(),
        })
        .collect();
    let (plan, linear) = Plan::build(&bundle, &values(&bundle), &[0, 1, 2, 3]);
    assert_eq!(linear, vec![3]);
    let [node] = plan.nodes() else {
        panic!("one node: {:#?}", plan.nodes());
    };
    assert_eq!(node.rules(), &[0, 1, 2]);
    // Rules 0 and 2 share the literal: one list.
    assert_eq!(node.table.keys(), 2);
    assert_eq!(plan.atoms.len(), 1);
}
