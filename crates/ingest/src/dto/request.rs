//! The batch and deletion requests: envelopes checked item by item.

use std::fmt;

use domain::{ChannelId, Message, MessageId};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use service_kit::problem::Problem;
use utoipa::ToSchema;

use super::{FieldError, GatewayMessage, MAX_BATCH, MAX_DELETIONS, TelegramId};

/// `POST /ingest/batch`: a JSON array of messages, or `{"messages": [...]}`. Items are checked
/// one by one: an invalid item gets its own error result, the valid ones are stored.
#[derive(Debug, Clone, PartialEq, ToSchema)]
#[schema(example = json!({"messages": [{"channelId": -1001649127710_i64, "messageId": 1, "text": "Bom dia", "timestamp": 1760965500}]}))]
pub struct BatchRequest {
    /// The messages, at most 1,000. Each is validated on its own.
    #[schema(value_type = Vec<GatewayMessage>)]
    pub messages: Vec<Value>,
}

impl<'de> Deserialize<'de> for BatchRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BatchRequest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of messages or an object with a `messages` array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BatchRequest, A::Error> {
                let mut messages = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_BATCH));
                while let Some(item) = seq.next_element::<Value>()? {
                    messages.push(item);
                }
                Ok(BatchRequest { messages })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BatchRequest, A::Error> {
                let mut messages = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "messages" {
                        messages = Some(map.next_value::<Vec<Value>>()?);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                messages
                    .map(|messages| BatchRequest { messages })
                    .ok_or_else(|| de::Error::missing_field("messages"))
            }
        }
        d.deserialize_any(V)
    }
}

impl BatchRequest {
    /// Each item as a domain message, or the error of that item (naming `messages[i].field`)
    /// with its message id when one could be read.
    pub fn into_items(self) -> Result<Vec<Result<Message, ItemError>>, Problem> {
        if self.messages.len() > MAX_BATCH {
            return Err(Problem::validation(
                "messages",
                format!(
                    "a batch holds at most {MAX_BATCH} messages, got {}",
                    self.messages.len()
                ),
            ));
        }
        Ok(self
            .messages
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let prefix = format!("messages[{i}]");
                let message_id = value.get("messageId").and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                });
                serde_path_to_error::deserialize::<_, GatewayMessage>(value)
                    .map_err(|e| {
                        let path = e.path().to_string();
                        let field = if path == "." { String::new() } else { path };
                        FieldError {
                            field: if field.is_empty() {
                                prefix.clone()
                            } else {
                                format!("{prefix}.{field}")
                            },
                            detail: e.into_inner().to_string(),
                            too_large: false,
                        }
                    })
                    .and_then(|m| m.try_into_domain().map_err(|e| e.within(&prefix)))
                    .map_err(|error| ItemError {
                        index: i,
                        message_id,
                        error,
                    })
            })
            .collect())
    }
}

/// Why one batch item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Position in the batch.
    pub index: usize,
    /// Its `messageId`, when readable.
    pub message_id: Option<i64>,
    /// The field at fault.
    pub error: FieldError,
}

/// `POST /ingest/deletions`: messages deleted in Telegram.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"channelId": "-1001649127710", "messageIds": [4512, 4513]}))]
pub struct DeletionRequest {
    /// The chat.
    #[schema(value_type = String, example = "-1001649127710")]
    pub channel_id: TelegramId,
    /// The deleted messages (1 to 10,000).
    #[schema(value_type = Vec<i64>)]
    pub message_ids: Vec<TelegramId>,
}

impl DeletionRequest {
    /// The domain ids.
    pub fn try_into_domain(self) -> Result<(ChannelId, Vec<MessageId>), FieldError> {
        if self.message_ids.is_empty() {
            return Err(FieldError::new(
                "messageIds",
                "at least one message id is required",
            ));
        }
        if self.message_ids.len() > MAX_DELETIONS {
            return Err(FieldError::new(
                "messageIds",
                format!("at most {MAX_DELETIONS} ids per notice"),
            ));
        }
        Ok((
            ChannelId(self.channel_id.0),
            self.message_ids
                .into_iter()
                .map(|m| MessageId(m.0))
                .collect(),
        ))
    }
}
