//! Which core runs what.
//!
//! Default on a host with C cores: client shards on cores 0..C-1 (at least
//! one), the consensus executor on the last core. On 2 cores that is one
//! shard on core 0 and the consensus core on core 1, leaving the log and
//! snapshotter to share core 1 when storage lands. `roost.cores` pins
//! explicitly: `roost.cores=0,1` puts shards on all but the last listed
//! core and consensus on the last; `roost.clientShards=N` overrides the
//! shard count (shards then wrap round the listed cores).

use crate::config::Config;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementPlan {
    pub shard_cpus: Vec<usize>,
    /// `None` leaves the consensus executor unpinned.
    pub consensus_cpu: Option<usize>,
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
    let (shard_pool, consensus_cpu) = if cpus.len() == 1 {
        (cpus.to_vec(), Some(cpus[0]))
    } else {
        (cpus[..cpus.len() - 1].to_vec(), Some(cpus[cpus.len() - 1]))
    };
    let count = client_shards.unwrap_or(shard_pool.len()).max(1);
    let shard_cpus = (0..count)
        .map(|i| shard_pool[i % shard_pool.len()])
        .collect();
    PlacementPlan {
        shard_cpus,
        consensus_cpu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cores_give_one_shard_and_a_consensus_core() {
        assert_eq!(
            plan_for(&[0, 1], None),
            PlacementPlan {
                shard_cpus: vec![0],
                consensus_cpu: Some(1)
            }
        );
    }

    #[test]
    fn one_core_shares() {
        assert_eq!(
            plan_for(&[3], None),
            PlacementPlan {
                shard_cpus: vec![3],
                consensus_cpu: Some(3)
            }
        );
    }

    #[test]
    fn shard_count_override_wraps() {
        assert_eq!(plan_for(&[0, 1, 2], Some(3)).shard_cpus, vec![0, 1, 0]);
    }
}
