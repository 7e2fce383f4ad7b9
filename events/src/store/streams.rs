//! The streams, one per context, as `infra/jetstream/streams.json` defines
//! them: created or updated at start-up, deleted for throwaway namespaces.

use super::{EventStore, StoreError, bounded, unavailable};
use crate::catalog::Context;
use async_nats::jetstream::stream;
use std::time::Duration;

const STREAM_DEFINITIONS: &str = include_str!("../../../infra/jetstream/streams.json");

/// A stream's definition, read from `infra/jetstream/streams.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StreamDefinition {
    /// The context the stream holds.
    pub context: Context,
    /// Shown by `nats stream info`.
    pub description: String,
    /// Largest message (headers and body) the stream accepts, in bytes.
    pub max_msg_size: usize,
    /// How long a `Nats-Msg-Id` is remembered for deduplication.
    pub duplicate_window_secs: u64,
}

/// The stream definitions kept in `infra/`.
pub fn stream_definitions() -> Result<Vec<StreamDefinition>, StoreError> {
    #[derive(serde::Deserialize)]
    struct File {
        streams: Vec<StreamDefinition>,
    }
    let file: File = serde_json::from_str(STREAM_DEFINITIONS)
        .map_err(|e| StoreError::Config(format!("infra/jetstream/streams.json: {e}")))?;
    for context in Context::ALL {
        if !file.streams.iter().any(|s| s.context == context) {
            return Err(StoreError::Config(format!("no stream defined for {context}")));
        }
    }
    Ok(file.streams)
}

impl EventStore {
    /// Creates each stream from its definition, or updates it to match. Safe to
    /// run on every start-up and from several processes. Replicas only ever go
    /// up: one process started without `PULSE_NATS_REPLICAS=3` (an operator's
    /// `pulse events tail`, say) must not take a cluster's streams down to one
    /// copy.
    pub async fn ensure_streams(&self) -> Result<(), StoreError> {
        for definition in stream_definitions()? {
            let mut config = self.stream_config(&definition);
            if let Ok(Ok(existing)) = bounded(self.timeout(), self.inner.jetstream.get_stream(&config.name)).await {
                config.num_replicas = config.num_replicas.max(existing.cached_info().config.num_replicas);
            }
            let created = bounded(self.timeout(), self.inner.jetstream.create_or_update_stream(config)).await?;
            created.map_err(|e| StoreError::Unavailable(format!("stream {}: {e}", definition.context)))?;
        }
        Ok(())
    }

    fn stream_config(&self, definition: &StreamDefinition) -> stream::Config {
        let namespace = &self.inner.config.namespace;
        stream::Config {
            name: namespace.stream(definition.context),
            description: Some(definition.description.clone()),
            subjects: vec![namespace.stream_subjects(definition.context)],
            storage: stream::StorageType::File,
            num_replicas: self.inner.config.replicas,
            max_message_size: i32::try_from(definition.max_msg_size).unwrap_or(i32::MAX),
            duplicate_window: Duration::from_secs(definition.duplicate_window_secs),
            allow_direct: true,
            ..Default::default()
        }
    }

    /// Deletes this namespace's streams: for tests and throwaway namespaces.
    pub async fn delete_streams(&self) -> Result<(), StoreError> {
        for context in Context::ALL {
            let name = self.inner.config.namespace.stream(context);
            let _gone = bounded(self.timeout(), self.inner.jetstream.delete_stream(&name)).await?;
        }
        Ok(())
    }

    /// The sequence of the newest event in a context's stream (0 when empty).
    pub async fn head(&self, context: Context) -> Result<u64, StoreError> {
        let name = self.namespace().stream(context);
        let mut stream = bounded(self.timeout(), self.inner.jetstream.get_stream(&name))
            .await?
            .map_err(|e| StoreError::Unavailable(format!("stream {name}: {e}")))?;
        let info = bounded(self.timeout(), stream.info()).await?.map_err(unavailable)?;
        Ok(info.state.last_sequence)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_definitions_in_infra_cover_every_context() {
        let definitions = stream_definitions().unwrap();
        assert_eq!(definitions.len(), Context::ALL.len());
        assert!(definitions.iter().all(|d| d.max_msg_size > 1024 && d.duplicate_window_secs >= 60));
    }
}
