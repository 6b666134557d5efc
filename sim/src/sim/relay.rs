//! The real relay of a scenario: the one a run starts with and the fresh
//! one each relay restart puts in its place, seeded from the run's seed.

use crate::scenario::Scenario;
use crate::seed::{Seeds, SplitMix64};
use rtprelay_core::{Command, Credential, Endpoint, Instant, LiveId, Relay, WallClock};
use std::sync::Arc;

/// The relay a scenario starts with: seeded from the run's seed, its wall
/// clock at the scenario's, its credentials added.
pub fn build_relay(scenario: &Scenario) -> Relay {
    relay_with_seed(scenario, Seeds::derive(scenario.seed).relay, scenario.origin)
}

/// The relay after restart number `restart` (from 1) at `now`: a new seed
/// derived from the run's, the same configuration and credentials.
pub fn restarted_relay(scenario: &Scenario, restart: u64, now: Instant) -> Relay {
    let mut seeds = SplitMix64::new(scenario.seed ^ restart.wrapping_mul(RESTART_SEED_STEP));
    relay_with_seed(scenario, seeds.next_seed32(), now)
}

/// Mixed into the run's seed for each restarted relay's seed.
const RESTART_SEED_STEP: u64 = 0x5EED_0F2E_57A2_7001;

fn relay_with_seed(scenario: &Scenario, seed: [u8; 32], now: Instant) -> Relay {
    let clock = WallClock::new(scenario.origin, scenario.unix_millis_at_origin);
    let mut relay = Relay::new(Arc::new(scenario.relay.clone()), seed, clock);
    for c in &scenario.credentials {
        let Ok(live_id) = LiveId::parse(&c.live_id) else {
            panic!("scenario credential {} is no stream id", c.live_id)
        };
        let credential = Credential::new(live_id, &c.live_code, c.salt);
        if let Err(e) = relay.handle_command(now, Command::AddCredential(credential)) {
            panic!("scenario credential {} refused: {e}", c.live_id);
        }
        while Endpoint::poll_event(&mut relay).is_some() {}
    }
    relay
}
