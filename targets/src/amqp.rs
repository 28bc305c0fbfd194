//! Message brokers that speak AMQP 0.9.1 (RabbitMQ, and anything wire-compatible), driven with
//! `lapin`: a target file's `[amqp]` section, and `--target rabbitmq` ([`crate::rabbitmq`]).
//!
//! The queue workload's operations map onto the protocol the way a careful application uses it:
//! - **enqueue** is a persistent, mandatory publish to a durable queue on a channel in confirm
//!   mode, and is acknowledged only by the broker's publisher confirm. A message returned
//!   (`basic.return`: no live queue took it — a classic queue whose node is down) is a definite
//!   failure; without `mandatory` the broker would confirm it and drop it. A `basic.nack`
//!   refuses responsibility but does not say the message went nowhere (RabbitMQ was seen to
//!   deliver a message it then nacked), so it is [`Failure::Unknown`], as is a publish that was
//!   sent but whose confirm never came (the connection broke, the broker was paused past the
//!   timeout).
//! - **dequeue** is `basic.get` with manual acknowledgement, then `basic.ack`. Until the ack a
//!   message is only lent: a broker takes back the unacknowledged messages of a channel that
//!   closes, so a dequeue that fails before its ack was sent consumed nothing and is a definite
//!   failure. An ack has no reply in AMQP, so once it is sent the client holds the message —
//!   if the ack was lost the broker delivers it again, and the history shows that duplicate,
//!   which is exactly the "at least once" the broker promises.
//! - **drain** (the final read) gets every message left without acknowledging any, then
//!   acknowledges them all at once: a drain cut short gives every message back.
//!
//! Queues are declared durable on first use through each node (`x-queue-type` classic or
//! quorum). They are never purged: a run's queue is named after the run, so it starts empty on
//! a broker somebody else runs too, and a purge through one node of a cluster would empty what
//! clients had already enqueued through another. Each node keeps one
//! connection, opened again when it breaks, and a pool of channels: a client takes a channel for
//! an operation and gives it back only if the operation ended cleanly.

use crate::{within, Failure};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// A target file's `[amqp]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpDesc {
    /// The kind of queue the workload declares.
    #[serde(default)]
    pub queue: QueueKind,
    #[serde(default = "guest")]
    pub user: String,
    #[serde(default = "guest")]
    pub password: String,
    /// The virtual host (`/` by default).
    #[serde(default = "root_vhost")]
    pub vhost: String,
}

fn guest() -> String {
    "guest".into()
}

fn root_vhost() -> String {
    "/".into()
}

/// RabbitMQ's two durable queue types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    /// A classic queue: its messages live on one node.
    #[default]
    Classic,
    /// A quorum queue: replicated by Raft across the cluster's nodes.
    Quorum,
}

impl QueueKind {
    /// `classic` or `quorum`.
    pub fn parse(text: &str) -> Result<QueueKind, String> {
        match text {
            "classic" => Ok(QueueKind::Classic),
            "quorum" => Ok(QueueKind::Quorum),
            other => Err(format!("{other:?}: expected classic or quorum")),
        }
    }

    /// As the command line and reports write it.
    pub fn name(self) -> &'static str {
        match self {
            QueueKind::Classic => "classic",
            QueueKind::Quorum => "quorum",
        }
    }
}

/// One broker node as the workload's clients reach it.
pub struct Broker {
    uri: String,
    queue: QueueKind,
    connection: tokio::sync::Mutex<Option<Connection>>,
    channels: Mutex<Vec<Channel>>,
    /// Queues declared in this run.
    declared: tokio::sync::Mutex<HashSet<String>>,
}

impl Broker {
    /// The broker at `host:port`, as `desc` says to log in.
    pub fn new(host: &str, port: u16, desc: &AmqpDesc) -> Broker {
        let encode =
            |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        Broker {
            uri: format!(
                "amqp://{}:{}@{host}:{port}/{}",
                encode(&desc.user),
                encode(&desc.password),
                encode(&desc.vhost)
            ),
            queue: desc.queue,
            connection: tokio::sync::Mutex::new(None),
            channels: Mutex::new(Vec::new()),
            declared: tokio::sync::Mutex::new(HashSet::new()),
        }
    }

    /// Publishes `message` to `queue` and waits for the broker's confirm.
    pub async fn enqueue(&self, queue: &str, message: u64, t: Duration) -> Result<(), Failure> {
        let channel = self.channel(queue, t).await?;
        let properties = BasicProperties::default().with_delivery_mode(2);
        let payload = message.to_string();
        let sent = within(t, async {
            let confirm = channel
                .basic_publish(
                    "",
                    queue,
                    // Mandatory: a message no live queue takes is returned, not confirmed and
                    // dropped (a classic queue whose node is down takes nothing).
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    payload.as_bytes(),
                    properties,
                )
                .await
                .map_err(|e| unsent_or_unknown(e, "publish"))?;
            match confirm.await {
                Ok(Confirmation::Ack(None)) => Ok(()),
                Ok(Confirmation::Ack(Some(_))) => Err(Failure::Definite(
                    "no queue took the message: the broker returned it (basic.return)".into(),
                )),
                // A nack refuses responsibility; it does not say the message went nowhere (one
                // nacked was seen delivered), so it may have been enqueued.
                Ok(Confirmation::Nack(_)) => Err(Failure::Unknown(
                    "the broker refused responsibility for the message (basic.nack)".into(),
                )),
                Ok(Confirmation::NotRequested) => Err(Failure::Unknown(
                    "the channel was not in confirm mode".into(),
                )),
                Err(e) => Err(Failure::Unknown(format!("no confirm: {e}"))),
            }
        })
        .await
        .unwrap_or_else(|| Err(Failure::Unknown("no confirm within the timeout".into())));
        self.give_back(channel, sent.is_ok());
        sent
    }

    /// Takes one message from `queue` and acknowledges it; `None` when the queue was empty.
    pub async fn dequeue(&self, queue: &str, t: Duration) -> Result<Option<u64>, Failure> {
        let channel = self.channel(queue, t).await?;
        let got = within(t, async {
            let got = channel
                .basic_get(queue, BasicGetOptions { no_ack: false })
                .await
                .map_err(|e| Failure::Definite(format!("basic.get: {e}")))?;
            let Some(message) = got else {
                return Ok(None);
            };
            let value = payload(&message.delivery.data)?;
            channel
                .basic_ack(message.delivery.delivery_tag, BasicAckOptions::default())
                .await
                .map_err(|e| {
                    Failure::Definite(format!(
                        "received {value} but could not acknowledge it ({e}): the broker gives it back"
                    ))
                })?;
            Ok(Some(value))
        })
        .await
        .unwrap_or_else(|| {
            Err(Failure::Definite(
                "no answer to basic.get within the timeout (the channel is closed, so the broker gives back anything it lent)".into(),
            ))
        });
        self.give_back(channel, got.is_ok());
        got
    }

    /// Every message left in `queue`, taken and then acknowledged all at once.
    pub async fn drain(&self, queue: &str, t: Duration) -> Result<Vec<u64>, Failure> {
        let channel = self.channel(queue, t).await?;
        let drained = within(t * 10, async {
            let (mut values, mut last) = (Vec::new(), None);
            while let Some(m) = channel
                .basic_get(queue, BasicGetOptions { no_ack: false })
                .await
                .map_err(|e| Failure::Definite(format!("basic.get while draining: {e}")))?
            {
                values.push(payload(&m.delivery.data)?);
                last = Some(m.delivery.delivery_tag);
            }
            if let Some(tag) = last {
                channel
                    .basic_ack(tag, BasicAckOptions { multiple: true })
                    .await
                    .map_err(|e| Failure::Definite(format!("acknowledging the drain: {e}")))?;
            }
            Ok(values)
        })
        .await
        .unwrap_or_else(|| Err(Failure::Definite("the drain did not finish in time".into())));
        self.give_back(channel, drained.is_ok());
        drained
    }

    /// A channel in confirm mode on which `queue` is declared: one from the pool, or a new one
    /// (on a new connection if the last one broke).
    async fn channel(&self, queue: &str, t: Duration) -> Result<Channel, Failure> {
        let pooled = self.channels.lock().expect("channel pool").pop();
        let channel = match pooled.filter(|c| c.status().connected()) {
            Some(c) => c,
            None => within(t, self.open_channel()).await.unwrap_or_else(|| {
                Err(Failure::Unreachable("no channel within the timeout".into()))
            })?,
        };
        self.declare(&channel, queue, t).await?;
        Ok(channel)
    }

    async fn open_channel(&self) -> Result<Channel, Failure> {
        let unreachable =
            |what: &str, e: lapin::Error| Failure::Unreachable(format!("{what}: {e}"));
        let mut connection = self.connection.lock().await;
        if !connection.as_ref().is_some_and(|c| c.status().connected()) {
            let c = Connection::connect(&self.uri, ConnectionProperties::default())
                .await
                .map_err(|e| unreachable("connecting", e))?;
            *connection = Some(c);
        }
        let c = connection.as_ref().expect("connected above");
        let channel = c
            .create_channel()
            .await
            .map_err(|e| unreachable("opening a channel", e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unreachable("confirm mode", e))?;
        Ok(channel)
    }

    /// Declares `queue` durable, of this broker's kind — once per run and node.
    async fn declare(&self, channel: &Channel, queue: &str, t: Duration) -> Result<(), Failure> {
        let mut declared = self.declared.lock().await;
        if declared.contains(queue) {
            return Ok(());
        }
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.queue.name().into()),
        );
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        within(t, async {
            channel
                .queue_declare(queue, options, arguments)
                .await
                .map(|_| ())
                .map_err(|e| Failure::Unreachable(format!("declaring queue {queue}: {e}")))
        })
        .await
        .unwrap_or_else(|| {
            Err(Failure::Unreachable(format!(
                "declaring queue {queue}: no answer"
            )))
        })?;
        declared.insert(queue.to_string());
        Ok(())
    }

    /// Returns a channel to the pool after a clean operation; closes it otherwise, so that
    /// whatever it was lent goes back to the queue.
    fn give_back(&self, channel: Channel, clean: bool) {
        if clean && channel.status().connected() {
            self.channels.lock().expect("channel pool").push(channel);
        } else if channel.status().connected() {
            tokio::spawn(async move {
                let _ = channel.close(200, "faultline: operation abandoned").await;
            });
        }
    }
}

/// A publish the channel refused to send is certainly lost; any other error came once it may
/// have been on its way.
fn unsent_or_unknown(e: lapin::Error, what: &str) -> Failure {
    match e {
        lapin::Error::InvalidChannelState(_) | lapin::Error::InvalidConnectionState(_) => {
            Failure::Definite(format!("{what} not sent: {e}"))
        }
        e => Failure::Unknown(format!("{what}: {e}")),
    }
}

/// A message's body: the decimal number faultline published.
fn payload(data: &[u8]) -> Result<u64, Failure> {
    crate::decimal(data).map_err(Failure::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_the_numbers_published_and_anything_else_is_said() {
        assert_eq!(payload(b"42"), Ok(42));
        let Err(Failure::Unknown(e)) = payload(b"hello") else {
            panic!("a foreign message is not a number")
        };
        assert!(e.contains("did not write: \"hello\""), "{e}");
    }

    #[test]
    fn the_section_reads_with_defaults_and_refuses_unknown_keys() {
        let d: AmqpDesc = toml::from_str("queue = \"quorum\"").unwrap();
        assert_eq!(
            (d.queue, d.user.as_str(), d.vhost.as_str()),
            (QueueKind::Quorum, "guest", "/")
        );
        assert!(toml::from_str::<AmqpDesc>("queues = \"quorum\"").is_err());
        let b = Broker::new("127.0.0.1", 5672, &d);
        assert_eq!(b.uri, "amqp://guest:guest@127.0.0.1:5672/%2F");
        let odd = AmqpDesc {
            password: "p@ss/word".into(),
            ..d
        };
        let b = Broker::new("h", 1, &odd);
        assert_eq!(b.uri, "amqp://guest:p%40ss%2Fword@h:1/%2F");
    }
}
