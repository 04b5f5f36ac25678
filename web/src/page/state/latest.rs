//! Tickets for work whose answer comes later (a base load, a build): each start takes one,
//! and only the newest ticket may change what is shown, so an older answer that arrives last
//! is dropped instead of replacing a newer one.

use leptos::prelude::*;

/// One start of the work: what it was asked for (`key`) and when (`serial`, so that two
/// starts for the same key are still told apart).
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket<K> {
    serial: u64,
    pub key: K,
}

/// Hands out tickets and knows which one is the newest.
#[derive(Debug)]
pub struct Latest<K: Send + Sync + 'static> {
    issued: StoredValue<(u64, Option<Ticket<K>>)>,
}

impl<K: Send + Sync + 'static> Clone for Latest<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Send + Sync + 'static> Copy for Latest<K> {}

impl<K: Clone + PartialEq + Send + Sync + 'static> Latest<K> {
    pub fn new() -> Self {
        Latest { issued: StoredValue::new((0, None)) }
    }

    /// A ticket for new work on `key`; every ticket issued before it stops being the newest.
    pub fn issue(&self, key: K) -> Ticket<K> {
        let issued = self.issued.try_update_value(|(serial, newest)| {
            *serial += 1;
            let ticket = Ticket { serial: *serial, key: key.clone() };
            *newest = Some(ticket.clone());
            ticket
        });
        // Serial 0 is never the newest: the page is gone, so nothing would show the answer.
        issued.unwrap_or(Ticket { serial: 0, key })
    }

    /// Whether `ticket` is still the newest (its answer may be shown).
    pub fn is_newest(&self, ticket: &Ticket<K>) -> bool {
        self.issued.try_with_value(|(_, newest)| newest.as_ref() == Some(ticket)).unwrap_or(false)
    }
}

impl<K: Clone + PartialEq + Send + Sync + 'static> Default for Latest<K> {
    fn default() -> Self {
        Latest::new()
    }
}
