//! Strict domains: each hit is counted exactly by its key's owner, the
//! live member (this node included) with the highest rendezvous score for
//! the key. A request's hits for one owner travel in one `Hit` call, calls
//! to several owners run concurrently; hits whose owner does not answer
//! within the call timeout are counted here against a local share of the
//! limit. The owner's side of the call is in `service.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use reaper_lang::limits::Algorithm;
use reaper_proto::mesh::v1 as pb;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::{CounterStore, Hit, Limit};

use super::{Node, wire};

impl Node {
    /// Counts strict-domain hits at their owners.
    pub(super) async fn count_strict(&self, hits: &[CounterHit], now_ms: u64) -> Vec<Hit> {
        let mut results: Vec<Option<Hit>> = vec![None; hits.len()];
        let mut remote: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (i, hit) in hits.iter().enumerate() {
            let owner = self.membership.owners(&self.id, &hit.key, 1);
            match owner.first() {
                Some(owner) if *owner != self.id => {
                    remote.entry(owner.clone()).or_default().push(i)
                }
                _ => results[i] = Some(self.strict.hit(&hit.key, &hit.limit, hit.hits, now_ms)),
            }
        }
        let mut calls = Vec::new();
        for (owner, indices) in remote {
            let Some(member) = self.membership.live_peer(&owner) else {
                calls.push((indices, None));
                continue;
            };
            let mut client = self.client(&member);
            let request = pb::HitRequest {
                from: Some(self.me()),
                now_ms,
                hits: indices
                    .iter()
                    .filter_map(|i| hits.get(*i))
                    .map(|h| wire::strict_to_wire(&h.key, &h.limit, h.hits))
                    .collect(),
            };
            let timeout = self.timeout();
            let call = tokio::spawn(async move {
                match tokio::time::timeout(timeout, client.hit(request)).await {
                    Ok(Ok(response)) => Some(response.into_inner().results),
                    _ => None,
                }
            });
            calls.push((indices, Some(call)));
        }
        for (indices, call) in calls {
            let answered = match call {
                Some(call) => call.await.ok().flatten(),
                None => None,
            };
            match answered {
                Some(answers) if answers.len() == indices.len() => {
                    for (i, answer) in indices.iter().zip(&answers) {
                        if let Some(slot) = results.get_mut(*i) {
                            *slot = Some(wire::hit_from_wire(answer));
                        }
                    }
                }
                _ => {
                    for i in indices {
                        if let (Some(hit), Some(slot)) = (hits.get(i), results.get_mut(i)) {
                            *slot = Some(self.fallback_hit(hit, now_ms));
                        }
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Hit {
                    allowed: false,
                    remaining: 0,
                    reset_ms: 0,
                })
            })
            .collect()
    }

    /// A strict hit whose owner did not answer: counted here against this
    /// node's share of the limit.
    fn fallback_hit(&self, hit: &CounterHit, now_ms: u64) -> Hit {
        metrics::counter!("reaper_mesh_strict_fallbacks_total").increment(1);
        let k = self.membership.live_count() as u64;
        let algorithm = match hit.limit.algorithm {
            Algorithm::TokenBucket { burst } => Algorithm::TokenBucket {
                burst: burst.div_ceil(k),
            },
            other => other,
        };
        let share = Limit {
            count: hit.limit.count.div_ceil(k),
            algorithm,
            ..hit.limit
        };
        self.fallback.hit(&hit.key, &share, hit.hits, now_ms)
    }
}
