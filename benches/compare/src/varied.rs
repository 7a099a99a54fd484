//! 1,024 varied document-sharing requests, generated deterministically from
//! a seed, for the end-to-end benchmarks (`authorize/e2e_1024`,
//! `authorize/prepared_1024`) and their equivalence test.
//!
//! One request asked 10⁶ times measures the branch predictor and the caches
//! as much as the engine. These vary what matters to each engine: 50
//! principals with their own attributes, all seven actions (five on
//! documents, two on folders), 1,000 resources, labels, editors, optional
//! attributes, team and folder hierarchies of depth 0 to 9 (sometimes cut
//! short: an ancestor without data ends the walk), admin roles, office, VPN
//! and outside addresses (IPv4 and IPv6), MFA, and times before and after
//! embargoes. Some are allowed and some denied, by every rule of the policy;
//! the test `tests/equivalence.rs` checks that Reaper, Cedar and regorus give
//! the same decision on each, and Reaper and Cedar the same deciding rules.
//!
//! The generator is a plain xorshift64* (no RNG dependency): the same seed
//! always gives the same requests.

use std::collections::HashSet;

use crate::scenario::{Ent, Scenario, Val, s, uid};

/// How many requests the `*_1024` benchmarks iterate over.
pub const COUNT: usize = 1_024;

/// The seed of the benchmark requests.
pub const SEED: u64 = 0x005e_ed0f_d0c5;

/// Teams form a binary heap of `TEAMS` nodes: team `k`'s parent is team
/// `(k - 1) / 2`, and team 0 is `Team::"all"`; depth up to 9.
const TEAMS: u64 = 1_023;

/// Folders form the same kind of heap; folder 0 is `Folder::"root"` and
/// folder 2 is `Folder::"handbook"`, so about half the folders are under the
/// handbook.
const FOLDERS: u64 = 1_023;

const USERS: u64 = 50;

const LABELS: [&str; 5] = ["internal", "confidential", "draft", "hr", "public-facing"];

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `true` with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn team_id(k: u64) -> String {
    if k == 0 {
        "all".to_owned()
    } else {
        format!("t{k}")
    }
}

fn folder_id(k: u64) -> String {
    match k {
        0 => "root".to_owned(),
        2 => "handbook".to_owned(),
        _ => format!("f{k}"),
    }
}

fn user_id(k: u64) -> String {
    format!("u{k}")
}

fn heap_parent(k: u64) -> Option<u64> {
    (k > 0).then(|| (k - 1) / 2)
}

/// A node of a heap of `size` nodes, at a random depth (so shallow and deep
/// nodes are about as likely).
fn heap_node(rng: &mut Rng, size: u64) -> u64 {
    let depth = rng.below(u64::from(size.ilog2()) + 1);
    let first = (1u64 << depth) - 1;
    let width = (1u64 << depth).min(size - first);
    first + rng.below(width)
}

/// The request's entity data, each entity at most once.
struct Entities {
    seen: HashSet<(String, String)>,
    list: Vec<Ent>,
}

impl Entities {
    fn push(&mut self, ent: Ent) -> bool {
        if self.seen.insert((ent.ty.clone(), ent.id.clone())) {
            self.list.push(ent);
            true
        } else {
            false
        }
    }

    /// Data for the ancestors of heap node `start` (exclusive), walking up;
    /// 20% of chains stop early, leaving an ancestor without data (which
    /// ends an `in` walk there, in every engine).
    fn chain(&mut self, rng: &mut Rng, start: u64, make: &dyn Fn(&mut Rng, u64) -> Ent) {
        let cut = rng.chance(20);
        let mut node = start;
        while let Some(parent) = heap_parent(node) {
            if cut && rng.chance(35) {
                return;
            }
            if !self.push(make(rng, node)) {
                return;
            }
            node = parent;
        }
        // The root, which has no parent.
        if !(cut && rng.chance(35)) {
            self.push(make(rng, node));
        }
    }
}

fn team(_: &mut Rng, k: u64) -> Ent {
    let ent = Ent::new("Team", &team_id(k));
    match heap_parent(k) {
        Some(parent) => ent.parent("Team", &team_id(parent)),
        None => ent,
    }
}

fn folder(rng: &mut Rng, k: u64) -> Ent {
    let ent =
        Ent::new("Folder", &folder_id(k)).attr("owner", uid("User", &user_id(rng.below(USERS))));
    match heap_parent(k) {
        Some(parent) => ent.parent("Folder", &folder_id(parent)),
        None => ent,
    }
}

fn timestamp(rng: &mut Rng) -> String {
    // Days of 2026 in a small range, so that `now` and `embargo_until` are
    // often close (and sometimes equal, which `<` must not take).
    let month = 1 + rng.below(3);
    let day = 1 + rng.below(28);
    let hour = [0, 9, 12, 17][rng.below(4) as usize];
    format!("2026-{month:02}-{day:02}T{hour:02}:00:00Z")
}

fn source_ip(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=39 => format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        ),
        40..=59 => format!("192.168.100.{}", 1 + rng.below(254)),
        60..=74 => format!("192.168.{}.{}", rng.below(100), 1 + rng.below(254)),
        75..=94 => format!("203.0.113.{}", 1 + rng.below(254)),
        _ => format!("2001:db8::{:x}", 1 + rng.below(0xffff)),
    }
}

/// One request.
pub fn request(rng: &mut Rng) -> Scenario {
    let me = rng.below(USERS);
    let mut entities = Entities {
        seen: HashSet::new(),
        list: Vec::new(),
    };

    // The principal: attributes, teams (0 to 3, each with its chain), roles.
    let mut principal = Ent::new("User", &user_id(me))
        .attr("clearance", Val::Int(rng.below(5) as i64))
        .attr("contractor", Val::Bool(rng.chance(15)));
    match rng.below(100) {
        0..=64 => principal.set("email", s(&format!("{}@example.com", user_id(me)))),
        65..=84 => principal.set("email", s(&format!("{}@mail.example.net", user_id(me)))),
        _ => {}
    }
    // The principal is entity data of its own; it is never in `entities`.
    entities.seen.insert(("User".to_owned(), user_id(me)));
    for _ in 0..rng.below(4) {
        let k = heap_node(rng, TEAMS);
        if !principal.parents.iter().any(|(_, id)| *id == team_id(k)) {
            principal = principal.parent("Team", &team_id(k));
            entities.chain(rng, k, &team);
        }
    }
    if rng.chance(6) {
        principal = principal.parent("Role", "admin");
    }
    if rng.chance(4) {
        principal = principal.parent("Role", "auditor");
    }

    // The action, and a resource of a type it applies to.
    let action = [
        "read", "read", "comment", "edit", "delete", "share", "list", "create",
    ][rng.below(8) as usize];
    let someone = |rng: &mut Rng| {
        if rng.chance(25) {
            user_id(me)
        } else {
            user_id(rng.below(USERS))
        }
    };
    let resource = if matches!(action, "list" | "create") {
        let k = heap_node(rng, FOLDERS);
        let mut resource =
            Ent::new("Folder", &folder_id(k)).attr("owner", uid("User", &someone(rng)));
        entities.seen.insert(("Folder".to_owned(), folder_id(k)));
        if let Some(parent) = heap_parent(k) {
            resource = resource.parent("Folder", &folder_id(parent));
            entities.chain(rng, parent, &folder);
        }
        resource
    } else {
        let mut resource = Ent::new("Document", &format!("d{}", rng.below(1_000)))
            .attr("owner", uid("User", &someone(rng)))
            .attr("public", Val::Bool(rng.chance(20)));
        let labels = (0..rng.below(4))
            .map(|_| LABELS[rng.below(LABELS.len() as u64) as usize])
            .collect::<HashSet<_>>();
        let mut labels: Vec<&str> = labels.into_iter().collect();
        labels.sort_unstable();
        resource.set("labels", Val::Set(labels.into_iter().map(s).collect()));
        let mut editors: Vec<String> = Vec::new();
        for _ in 0..rng.below(4) {
            let user = someone(rng);
            if !editors.contains(&user) {
                editors.push(user);
            }
        }
        resource.set(
            "editors",
            Val::Set(editors.iter().map(|u| uid("User", u)).collect()),
        );
        if rng.chance(35) {
            resource.set("team", uid("Team", &team_id(heap_node(rng, TEAMS))));
        }
        if rng.chance(30) {
            resource.set("min_clearance", Val::Int(rng.below(5) as i64));
        }
        if rng.chance(25) {
            resource.set("embargo_until", Val::Timestamp(timestamp(rng)));
        }
        if rng.chance(75) {
            let k = heap_node(rng, FOLDERS);
            resource = resource.parent("Folder", &folder_id(k));
            entities.chain(rng, k, &folder);
        }
        resource
    };

    let context = vec![
        ("source_ip".to_owned(), Val::Ip(source_ip(rng))),
        ("mfa".to_owned(), Val::Bool(rng.chance(70))),
        ("now".to_owned(), Val::Timestamp(timestamp(rng))),
    ];

    // Entities are given in no particular order.
    let mut list = entities.list;
    for i in (1..list.len()).rev() {
        list.swap(i, rng.below(i as u64 + 1) as usize);
    }
    Scenario {
        principal,
        action: action.to_owned(),
        resource,
        context,
        entities: list,
    }
}

/// `n` requests from `seed`.
pub fn requests(n: usize, seed: u64) -> Vec<Scenario> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| request(&mut rng)).collect()
}

/// The benchmark's requests: [`COUNT`] from [`SEED`].
pub fn benchmark_requests() -> Vec<Scenario> {
    requests(COUNT, SEED)
}

/// The benchmark's requests as JSON text, one `Vec` per engine form:
/// `(reaper, cedar, rego)`.
pub fn benchmark_json() -> (Vec<String>, Vec<String>, Vec<String>) {
    let requests = benchmark_requests();
    (
        requests
            .iter()
            .map(|r| r.reaper_json().to_string())
            .collect(),
        requests
            .iter()
            .map(|r| r.cedar_json().to_string())
            .collect(),
        requests
            .iter()
            .map(|r| r.rego_input_json().to_string())
            .collect(),
    )
}
