//! How many deliveries go to one endpoint at once on this instance. A slow endpoint holds at
//! most that many of the delivery pool's slots; its other deliveries wait their turn (which
//! is not an attempt) while every other endpoint's go on.

use std::collections::HashMap;
use std::sync::Mutex;

pub(super) struct InFlight {
    per_endpoint: usize,
    endpoints: Mutex<HashMap<String, usize>>,
}

/// A place among an endpoint's deliveries in flight, given back when dropped.
pub(super) struct Place<'a> {
    in_flight: &'a InFlight,
    endpoint: String,
}

impl InFlight {
    pub(super) fn new(per_endpoint: usize) -> Self {
        Self {
            per_endpoint,
            endpoints: Mutex::default(),
        }
    }

    pub(super) fn per_endpoint(&self) -> usize {
        self.per_endpoint
    }

    /// A place among `endpoint`'s deliveries in flight, if one is free.
    pub(super) fn try_enter(&self, endpoint: &str) -> Option<Place<'_>> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        let count = endpoints.entry(endpoint.to_string()).or_default();
        if *count >= self.per_endpoint {
            return None;
        }
        *count += 1;
        Some(Place {
            in_flight: self,
            endpoint: endpoint.to_string(),
        })
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut endpoints = self
            .in_flight
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = endpoints.get_mut(&self.endpoint) {
            *count -= 1;
            // Endpoints come and go: only those with deliveries in flight are kept.
            if *count == 0 {
                endpoints.remove(&self.endpoint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_gets_its_places_and_no_more_while_others_get_theirs() {
        let in_flight = InFlight::new(2);
        let first = in_flight.try_enter("slow");
        let second = in_flight.try_enter("slow");
        assert!(first.is_some() && second.is_some());
        assert!(in_flight.try_enter("slow").is_none(), "a third waits");
        assert!(
            in_flight.try_enter("fast").is_some(),
            "another endpoint does not"
        );
        drop(first);
        assert!(
            in_flight.try_enter("slow").is_some(),
            "a place given back is free"
        );
    }

    #[test]
    fn endpoints_with_nothing_in_flight_are_forgotten() {
        let in_flight = InFlight::new(1);
        drop(in_flight.try_enter("a"));
        drop(in_flight.try_enter("b"));
        assert!(in_flight.endpoints.lock().unwrap().is_empty());
    }
}
