//! Which core runs what.
//!
//! Default on a host with C cores (the brief's shape):
//! - C = 1: everything shares the one core;
//! - C = 2: one client shard and the consensus executor on the first core,
//!   the log and the snapshotter on the second;
//! - C >= 3: client shards on the first C-2 cores, consensus on core C-2,
//!   the log and the snapshotter on core C-1.
//!
//! `roost.cores` gives the cores to use (same rules over that list) and
//! `roost.clientShards` overrides the shard count (shards then wrap round
//! their cores).

use crate::config::Config;

/// A value: computed once on the main thread at start-up; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementPlan {
    pub shard_cpus: Vec<usize>,
    pub consensus_cpu: Option<usize>,
    /// The log core; the snapshotter shares it.
    pub log_cpu: Option<usize>,
}

pub fn plan(config: &Config) -> anyhow::Result<PlacementPlan> {
    let cpus: Vec<usize> = match &config.cores {
        Some(list) => list.clone(),
        None => {
            let online = core_affinity::get_core_ids()
                .map(|ids| ids.into_iter().map(|c| c.id).collect::<Vec<_>>());
            match online {
                Some(ids) if !ids.is_empty() => ids,
                _ => vec![0],
            }
        }
    };
    Ok(plan_for(&cpus, config.client_shards))
}

pub fn plan_for(cpus: &[usize], client_shards: Option<usize>) -> PlacementPlan {
    assert!(!cpus.is_empty(), "placement needs at least one cpu");
    let n = cpus.len();
    let (shard_pool, consensus_cpu, log_cpu) = match n {
        1 => (vec![cpus[0]], cpus[0], cpus[0]),
        2 => (vec![cpus[0]], cpus[0], cpus[1]),
        _ => (cpus[..n - 2].to_vec(), cpus[n - 2], cpus[n - 1]),
    };
    let count = client_shards.unwrap_or(shard_pool.len()).max(1);
    let shard_cpus = (0..count)
        .map(|i| shard_pool[i % shard_pool.len()])
        .collect();
    PlacementPlan {
        shard_cpus,
        consensus_cpu: Some(consensus_cpu),
        log_cpu: Some(log_cpu),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cores_put_shard_and_consensus_together_and_the_log_apart() {
        let plan = plan_for(&[0, 1], None);
        assert_eq!(plan.shard_cpus, vec![0]);
        assert_eq!((plan.consensus_cpu, plan.log_cpu), (Some(0), Some(1)));
    }

    #[test]
    fn one_core_shares() {
        let plan = plan_for(&[3], None);
        assert_eq!(plan.shard_cpus, vec![3]);
        assert_eq!((plan.consensus_cpu, plan.log_cpu), (Some(3), Some(3)));
    }

    #[test]
    fn shard_count_override_wraps() {
        assert_eq!(plan_for(&[0, 1, 2, 3], Some(3)).shard_cpus, vec![0, 1, 0]);
        assert_eq!(plan_for(&[0, 1, 2, 3], None).consensus_cpu, Some(2));
    }
}
