//! The open files a server may hold: one per client connection, besides its own. The soft limit
//! a process starts with is often far below the hard one (1,024 against 20,000 or a million), and
//! a server held to it turns away clients the machine would allow; so it is raised to the hard
//! one at start. What a server can give its clients is that limit less a reserve for what it
//! cannot serve without (database pools, Redis, probes, REST requests): past the limit `accept`
//! fails, and a replica that cannot accept cannot answer its probes either.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft open-file limit to the hard one; the limit this process now has (`None`:
/// unlimited). Raising the soft limit needs no privilege; where it is refused, the soft limit
/// stays and is returned.
pub fn raise_open_file_limit() -> Option<u64> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current == maximum {
        return current;
    }
    match setrlimit(Resource::Nofile, Rlimit { current: maximum, maximum }) {
        Ok(()) => {
            tracing::debug!(from = ?current, to = ?maximum, "open-file limit raised to the hard limit");
            maximum
        }
        Err(err) => {
            tracing::warn!(error = %err, limit = ?current, "cannot raise the open-file limit; keeping it");
            current
        }
    }
}

/// The client connections a process may hold under `limit`, keeping `reserve` descriptors for
/// everything else it opens.
pub fn client_budget(limit: Option<u64>, reserve: u64) -> u64 {
    limit.map_or(u64::MAX, |limit| limit.saturating_sub(reserve))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let Rlimit { maximum, .. } = getrlimit(Resource::Nofile);
        // One below the hard limit, as a process may start; lowering needs no privilege.
        let lower = maximum.map(|max| max - 1);
        setrlimit(Resource::Nofile, Rlimit { current: lower, maximum }).unwrap();
        assert_eq!(raise_open_file_limit(), maximum);
        assert_eq!(getrlimit(Resource::Nofile).current, maximum);
    }

    #[test]
    fn the_budget_is_the_limit_less_the_reserve() {
        assert_eq!(client_budget(Some(20_000), 300), 19_700);
        assert_eq!(client_budget(Some(100), 300), 0, "a limit below the reserve leaves nothing");
        assert_eq!(client_budget(None, 300), u64::MAX);
    }
}
