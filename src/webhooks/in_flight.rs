//! How many deliveries go to one endpoint at once on this instance. A slow endpoint holds at
//! most that many of the delivery pool's slots; a delivery that finds its endpoint's places
//! taken waits a moment for one (a fast endpoint frees one in milliseconds), then gives its
//! slot up and waits its turn in the queue (which is not an attempt), while every other
//! endpoint's deliveries go on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(super) struct InFlight {
    per_endpoint: usize,
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A place among an endpoint's deliveries in flight, given back when dropped.
pub(super) struct Place<'a> {
    in_flight: &'a InFlight,
    endpoint: String,
    permit: Option<OwnedSemaphorePermit>,
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

    /// A place among `endpoint`'s deliveries in flight, waiting up to `patience` for one.
    pub(super) async fn enter(&self, endpoint: &str, patience: Duration) -> Option<Place<'_>> {
        let places = self
            .lock()
            .entry(endpoint.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_endpoint)))
            .clone();
        // Awaiting moves the clone into the wait, which drops it on giving up: the place
        // below then sees whether anybody else still holds or awaits the endpoint.
        let acquired = tokio::time::timeout(patience, places.acquire_owned()).await;
        let mut place = Place {
            in_flight: self,
            endpoint: endpoint.to_string(),
            permit: None,
        };
        match acquired {
            Ok(Ok(permit)) => {
                place.permit = Some(permit);
                Some(place)
            }
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut endpoints = self.in_flight.lock();
        // Endpoints come and go: one is kept only while a delivery holds or awaits a place.
        if endpoints
            .get(&self.endpoint)
            .is_some_and(|places| Arc::strong_count(places) == 1)
        {
            endpoints.remove(&self.endpoint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_PATIENCE: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn an_endpoint_gets_its_places_and_no_more_while_others_get_theirs() {
        let in_flight = InFlight::new(2);
        let first = in_flight.enter("slow", NO_PATIENCE).await;
        let second = in_flight.enter("slow", NO_PATIENCE).await;
        assert!(first.is_some() && second.is_some());
        assert!(
            in_flight.enter("slow", NO_PATIENCE).await.is_none(),
            "a third waits"
        );
        assert!(
            in_flight.enter("fast", NO_PATIENCE).await.is_some(),
            "another endpoint does not"
        );
        drop(first);
        assert!(
            in_flight.enter("slow", NO_PATIENCE).await.is_some(),
            "a place given back is free"
        );
    }

    #[tokio::test]
    async fn a_delivery_waiting_patiently_gets_the_place_given_back_meanwhile() {
        let in_flight = Arc::new(InFlight::new(1));
        let held = in_flight.enter("e", NO_PATIENCE).await;
        let waiter = {
            let in_flight = in_flight.clone();
            tokio::spawn(
                async move { in_flight.enter("e", Duration::from_secs(5)).await.is_some() },
            )
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn endpoints_with_nothing_in_flight_are_forgotten() {
        let in_flight = InFlight::new(1);
        drop(in_flight.enter("a", NO_PATIENCE).await);
        let held = in_flight.enter("b", NO_PATIENCE).await;
        assert!(in_flight.enter("b", NO_PATIENCE).await.is_none());
        drop(held);
        assert!(in_flight.lock().is_empty());
    }
}
