//! The daemon's event bus (`docker events`): a broadcast channel for live subscribers and a
//! bounded history so `--since` can replay recent events.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

/// One event, in the Engine API's shape.
#[derive(Debug, Clone)]
pub struct Event {
    /// `container`, `image`, `network`, `volume`, `daemon`.
    pub kind: &'static str,
    /// `create`, `start`, `die`, ...
    pub action: String,
    /// Object id.
    pub id: String,
    /// Actor attributes (name, image, exitCode, ...).
    pub attributes: BTreeMap<String, String>,
    /// Unix time in nanoseconds.
    pub time_nano: i64,
}

impl Event {
    /// The JSON message Docker streams, including the legacy `status`/`id`/`from` keys.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::Map::new();
        if self.kind == "container" || self.kind == "image" {
            v.insert("status".into(), json!(self.action));
            v.insert("id".into(), json!(self.id));
            if let Some(from) = self.attributes.get("image") {
                v.insert("from".into(), json!(from));
            }
        }
        v.insert("Type".into(), json!(self.kind));
        v.insert("Action".into(), json!(self.action));
        v.insert(
            "Actor".into(),
            json!({"ID": self.id, "Attributes": self.attributes}),
        );
        v.insert("scope".into(), json!("local"));
        v.insert("time".into(), json!(self.time_nano / 1_000_000_000));
        v.insert("timeNano".into(), json!(self.time_nano));
        Value::Object(v)
    }
}

/// Publishes events to subscribers and keeps recent history.
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(256);
        EventBus {
            tx,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }

    /// Publishes an event now.
    pub fn publish(
        &self,
        kind: &'static str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let time_nano = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let ev = Event {
            kind,
            action: action.to_string(),
            id: id.to_string(),
            attributes,
            time_nano,
        };
        if let Ok(mut h) = self.history.lock() {
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    /// Subscribes to new events, returning the history at the time of subscribing too.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        // Subscribe while holding the history lock: `publish` appends under the same lock before
        // sending, so every event is either in the returned history or delivered, never both.
        match self.history.lock() {
            Ok(h) => {
                let rx = self.tx.subscribe();
                (h.iter().cloned().collect(), rx)
            }
            Err(_) => (Vec::new(), self.tx.subscribe()),
        }
    }

    /// Number of live subscribers.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_docker_shape_and_history() {
        let bus = EventBus::new();
        let mut attrs = BTreeMap::new();
        attrs.insert("image".to_string(), "busybox".to_string());
        attrs.insert("name".to_string(), "c1".to_string());
        bus.publish("container", "start", "abc", attrs);
        let (hist, _rx) = bus.subscribe();
        assert_eq!(hist.len(), 1);
        let j = hist[0].to_json();
        assert_eq!(j["status"], "start");
        assert_eq!(j["from"], "busybox");
        assert_eq!(j["Type"], "container");
        assert_eq!(j["Actor"]["Attributes"]["name"], "c1");
        let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"
            ]
        );
    }
}
