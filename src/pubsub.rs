//! Port of pubsub.c: channels, patterns and shard channels, the messages published
//! to them, and the PUBSUB introspection command.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use mio::Token;

use crate::networking::{Client, CLIENT_DENY_BLOCKING, CLIENT_MULTI, CLIENT_PUBSUB};
use crate::resp::{add_reply_error, add_reply_subcommand_syntax_error};
use crate::server::Server;
use crate::util::stringmatchlen;

/// A subscriber as the server's tables hold it: where the client is, and which client.
pub type Subscriber = (Token, u64);

/// The server's side of every subscription (server.h: pubsub_channels,
/// pubsub_patterns, pubsubshard_channels).
#[derive(Default)]
pub struct PubSubServer {
    pub channels: HashMap<Bytes, Vec<Subscriber>>,
    pub patterns: HashMap<Bytes, Vec<Subscriber>>,
    pub shard_channels: HashMap<Bytes, Vec<Subscriber>>,
    /// Messages for clients that were out of the client table when they were
    /// published (the client running a script that publishes, or the one whose
    /// command raised a keyspace event); delivered when it is handed back.
    pub pending: Vec<(Subscriber, PubSubMessage)>,
}

/// A client's own subscriptions (server.h: client.pubsub_channels, pubsub_patterns,
/// pubsubshard_channels).
#[derive(Default)]
pub struct PubSubClient {
    pub channels: HashSet<Bytes>,
    /// Patterns in subscription order, as Redis's list keeps them.
    pub patterns: Vec<Bytes>,
    pub shard_channels: HashSet<Bytes>,
}

/// Plain channels or shard channels (pubsub.c: pubsubtype).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PubSubType {
    Global,
    Shard,
}

impl PubSubType {
    fn subscribe_msg(self) -> &'static [u8] {
        match self {
            PubSubType::Global => b"subscribe",
            PubSubType::Shard => b"ssubscribe",
        }
    }
    fn unsubscribe_msg(self) -> &'static [u8] {
        match self {
            PubSubType::Global => b"unsubscribe",
            PubSubType::Shard => b"sunsubscribe",
        }
    }
    fn message_bulk(self) -> &'static [u8] {
        match self {
            PubSubType::Global => b"message",
            PubSubType::Shard => b"smessage",
        }
    }
    fn client_channels(self, c: &mut Client) -> &mut HashSet<Bytes> {
        match self {
            PubSubType::Global => &mut c.pubsub.channels,
            PubSubType::Shard => &mut c.pubsub.shard_channels,
        }
    }
    fn server_channels(self, s: &mut Server) -> &mut HashMap<Bytes, Vec<Subscriber>> {
        match self {
            PubSubType::Global => &mut s.pubsub.channels,
            PubSubType::Shard => &mut s.pubsub.shard_channels,
        }
    }
    /// pubsubtype.subscriptionCount
    fn subscription_count(self, c: &Client) -> usize {
        match self {
            PubSubType::Global => client_subscriptions_count(c),
            PubSubType::Shard => client_shard_subscriptions_count(c),
        }
    }
}

/// A published message on its way to one subscriber.
#[derive(Clone)]
pub enum PubSubMessage {
    Message {
        kind: PubSubType,
        channel: Bytes,
        msg: Bytes,
    },
    PMessage {
        pattern: Bytes,
        channel: Bytes,
        msg: Bytes,
    },
}

/// The header of a pub/sub message: an array in RESP2, a push in RESP3.
fn add_reply_pubsub_header(c: &mut Client, len: usize) {
    if c.resp == 2 {
        c.add_reply_array_len(len);
    } else {
        c.add_reply_push_len(len);
    }
}

/// A message encoded once per protocol, so that publishing to many subscribers
/// appends ready bytes instead of re-encoding per client (Redis shares its reply
/// objects for the same reason).
struct Encoded {
    resp2: Vec<u8>,
    resp3: Vec<u8>,
}

impl Encoded {
    fn new(m: &PubSubMessage) -> Encoded {
        let parts: Vec<&[u8]> = match m {
            PubSubMessage::Message { kind, channel, msg } => {
                vec![kind.message_bulk(), channel, msg]
            }
            PubSubMessage::PMessage {
                pattern,
                channel,
                msg,
            } => vec![b"pmessage", pattern, channel, msg],
        };
        let mut body = Vec::new();
        for p in &parts {
            body.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            body.extend_from_slice(p);
            body.extend_from_slice(b"\r\n");
        }
        let with = |prefix: u8| {
            let mut v = format!("{}{}\r\n", prefix as char, parts.len()).into_bytes();
            v.extend_from_slice(&body);
            v
        };
        Encoded {
            resp2: with(b'*'),
            resp3: with(b'>'),
        }
    }

    fn add_to(&self, c: &mut Client) {
        let bytes = if c.resp == 2 {
            &self.resp2
        } else {
            &self.resp3
        };
        c.add_reply_proto(bytes);
    }
}

/// pubsub.c: addReplyPubsubMessage / addReplyPubsubPatMessage
fn add_reply_pubsub_message(c: &mut Client, m: &PubSubMessage) {
    match m {
        PubSubMessage::Message { kind, channel, msg } => {
            add_reply_pubsub_header(c, 3);
            c.add_reply_bulk(kind.message_bulk());
            c.add_reply_bulk(channel);
            c.add_reply_bulk(msg);
        }
        PubSubMessage::PMessage {
            pattern,
            channel,
            msg,
        } => {
            add_reply_pubsub_header(c, 4);
            c.add_reply_bulk(b"pmessage");
            c.add_reply_bulk(pattern);
            c.add_reply_bulk(channel);
            c.add_reply_bulk(msg);
        }
    }
}

/// pubsub.c: addReplyPubsubSubscribed
fn add_reply_pubsub_subscribed(c: &mut Client, channel: &[u8], t: PubSubType) {
    add_reply_pubsub_header(c, 3);
    c.add_reply_bulk(t.subscribe_msg());
    c.add_reply_bulk(channel);
    let n = t.subscription_count(c) as i64;
    c.add_reply_long_long(n);
}

/// pubsub.c: addReplyPubsubUnsubscribed
fn add_reply_pubsub_unsubscribed(c: &mut Client, channel: Option<&[u8]>, t: PubSubType) {
    add_reply_pubsub_header(c, 3);
    c.add_reply_bulk(t.unsubscribe_msg());
    match channel {
        Some(ch) => c.add_reply_bulk(ch),
        None => c.add_reply_null(),
    }
    let n = t.subscription_count(c) as i64;
    c.add_reply_long_long(n);
}

/// pubsub.c: addReplyPubsubPatSubscribed
fn add_reply_pubsub_pat_subscribed(c: &mut Client, pattern: &[u8]) {
    add_reply_pubsub_header(c, 3);
    c.add_reply_bulk(b"psubscribe");
    c.add_reply_bulk(pattern);
    let n = client_subscriptions_count(c) as i64;
    c.add_reply_long_long(n);
}

/// pubsub.c: addReplyPubsubPatUnsubscribed
fn add_reply_pubsub_pat_unsubscribed(c: &mut Client, pattern: Option<&[u8]>) {
    add_reply_pubsub_header(c, 3);
    c.add_reply_bulk(b"punsubscribe");
    match pattern {
        Some(p) => c.add_reply_bulk(p),
        None => c.add_reply_null(),
    }
    let n = client_subscriptions_count(c) as i64;
    c.add_reply_long_long(n);
}

/// pubsub.c: serverPubsubSubscriptionCount
pub fn server_pubsub_subscription_count(s: &Server) -> usize {
    s.pubsub.channels.len() + s.pubsub.patterns.len()
}

/// pubsub.c: serverPubsubShardSubscriptionCount
pub fn server_pubsub_shard_subscription_count(s: &Server) -> usize {
    s.pubsub.shard_channels.len()
}

/// pubsub.c: clientSubscriptionsCount
pub fn client_subscriptions_count(c: &Client) -> usize {
    c.pubsub.channels.len() + c.pubsub.patterns.len()
}

/// pubsub.c: clientShardSubscriptionsCount
pub fn client_shard_subscriptions_count(c: &Client) -> usize {
    c.pubsub.shard_channels.len()
}

/// pubsub.c: clientTotalPubSubSubscriptionCount
pub fn client_total_pubsub_subscription_count(c: &Client) -> usize {
    client_subscriptions_count(c) + client_shard_subscriptions_count(c)
}

/// Removes one subscriber from a server table entry, and the entry when it was the
/// last, so that abandoned channels do not pile up.
fn remove_subscriber(map: &mut HashMap<Bytes, Vec<Subscriber>>, name: &[u8], id: u64) {
    if let Some(list) = map.get_mut(name) {
        if let Some(pos) = list.iter().position(|&(_, cid)| cid == id) {
            list.remove(pos);
        }
        if list.is_empty() {
            map.remove(name);
        }
    }
}

/// pubsub.c: pubsubSubscribeChannel
fn pubsub_subscribe_channel(
    s: &mut Server,
    c: &mut Client,
    channel: &Bytes,
    t: PubSubType,
) -> bool {
    // Our own copy: the argument is a slice of the query buffer.
    let channel = Bytes::copy_from_slice(channel);
    let added = t.client_channels(c).insert(channel.clone());
    if added {
        t.server_channels(s)
            .entry(channel.clone())
            .or_default()
            .push((c.token, c.id));
    }
    add_reply_pubsub_subscribed(c, &channel, t);
    added
}

/// pubsub.c: pubsubUnsubscribeChannel
fn pubsub_unsubscribe_channel(
    s: &mut Server,
    c: &mut Client,
    channel: &Bytes,
    notify: bool,
    t: PubSubType,
) -> bool {
    let removed = t.client_channels(c).remove(channel);
    if removed {
        remove_subscriber(t.server_channels(s), channel, c.id);
    }
    if notify {
        add_reply_pubsub_unsubscribed(c, Some(channel), t);
    }
    removed
}

/// pubsub.c: pubsubSubscribePattern
fn pubsub_subscribe_pattern(s: &mut Server, c: &mut Client, pattern: &Bytes) -> bool {
    let added = !c.pubsub.patterns.iter().any(|p| p == pattern);
    let pattern = Bytes::copy_from_slice(pattern);
    if added {
        c.pubsub.patterns.push(pattern.clone());
        s.pubsub
            .patterns
            .entry(pattern.clone())
            .or_default()
            .push((c.token, c.id));
    }
    add_reply_pubsub_pat_subscribed(c, &pattern);
    added
}

/// pubsub.c: pubsubUnsubscribePattern
fn pubsub_unsubscribe_pattern(
    s: &mut Server,
    c: &mut Client,
    pattern: &Bytes,
    notify: bool,
) -> bool {
    let pos = c.pubsub.patterns.iter().position(|p| p == pattern);
    if let Some(pos) = pos {
        c.pubsub.patterns.remove(pos);
        remove_subscriber(&mut s.pubsub.patterns, pattern, c.id);
    }
    if notify {
        add_reply_pubsub_pat_unsubscribed(c, Some(pattern));
    }
    pos.is_some()
}

/// pubsub.c: pubsubUnsubscribeAllChannelsInternal
fn pubsub_unsubscribe_all_channels_internal(
    s: &mut Server,
    c: &mut Client,
    notify: bool,
    t: PubSubType,
) -> usize {
    let channels: Vec<Bytes> = t.client_channels(c).iter().cloned().collect();
    let mut count = 0;
    for ch in channels {
        count += pubsub_unsubscribe_channel(s, c, &ch, notify, t) as usize;
    }
    // Unsubscribing from nothing still answers once, with a null channel.
    if notify && count == 0 {
        add_reply_pubsub_unsubscribed(c, None, t);
    }
    count
}

/// pubsub.c: pubsubUnsubscribeAllChannels
pub fn pubsub_unsubscribe_all_channels(s: &mut Server, c: &mut Client, notify: bool) -> usize {
    pubsub_unsubscribe_all_channels_internal(s, c, notify, PubSubType::Global)
}

/// pubsub.c: pubsubUnsubscribeShardAllChannels
pub fn pubsub_unsubscribe_shard_all_channels(
    s: &mut Server,
    c: &mut Client,
    notify: bool,
) -> usize {
    pubsub_unsubscribe_all_channels_internal(s, c, notify, PubSubType::Shard)
}

/// pubsub.c: pubsubUnsubscribeAllPatterns
pub fn pubsub_unsubscribe_all_patterns(s: &mut Server, c: &mut Client, notify: bool) -> usize {
    let patterns = c.pubsub.patterns.clone();
    let mut count = 0;
    for p in patterns {
        count += pubsub_unsubscribe_pattern(s, c, &p, notify) as usize;
    }
    if notify && count == 0 {
        add_reply_pubsub_pat_unsubscribed(c, None);
    }
    count
}

// ANCHOR: deliver
/// Appends a message to one subscriber's output. The subscriber is `current` when
/// it is the client whose command publishes; otherwise it is in the client table,
/// or (taken out by whoever is serving it) it gets the message when handed back.
fn deliver(
    s: &mut Server,
    current: Option<&mut Client>,
    to: Subscriber,
    m: &PubSubMessage,
    e: &Encoded,
) {
    if let Some(c) = current {
        if c.id == to.1 {
            e.add_to(c);
            return;
        }
    }
    let Some(mut c) = s.take_client(to.0) else {
        s.pubsub.pending.push((to, m.clone()));
        return;
    };
    if c.id == to.1 {
        e.add_to(&mut c);
        // A subscriber that stops reading is cut off at its output limit.
        crate::networking::close_client_on_output_buffer_limit_reached(s, &mut c);
    }
    s.put_client(c);
}
// ANCHOR_END: deliver

/// Delivers what was published to `c` while it was out of the client table.
pub fn deliver_pending(s: &mut Server, c: &mut Client) {
    if !s.pubsub.pending.iter().any(|(to, _)| to.1 == c.id) {
        return;
    }
    let pending = std::mem::take(&mut s.pubsub.pending);
    for (to, m) in pending {
        if to.1 == c.id {
            add_reply_pubsub_message(c, &m);
        } else {
            s.pubsub.pending.push((to, m));
        }
    }
    crate::networking::close_client_on_output_buffer_limit_reached(s, c);
}

// ANCHOR: pubsub_publish_message
/// pubsub.c: pubsubPublishMessage
///
/// Channel subscribers first, in subscription order, then every matching pattern's
/// subscribers; a client subscribed both ways receives (and counts) twice. The
/// messages are appended to the subscribers' output buffers before PUBLISH replies.
pub fn pubsub_publish_message(
    s: &mut Server,
    mut current: Option<&mut Client>,
    channel: &Bytes,
    message: &Bytes,
    t: PubSubType,
) -> usize {
    let mut receivers = 0;
    let subscribers: Vec<Subscriber> = t
        .server_channels(s)
        .get(&channel[..])
        .cloned()
        .unwrap_or_default();
    if !subscribers.is_empty() {
        let m = PubSubMessage::Message {
            kind: t,
            channel: channel.clone(),
            msg: message.clone(),
        };
        let e = Encoded::new(&m);
        for to in subscribers {
            deliver(s, current.as_deref_mut(), to, &m, &e);
            receivers += 1;
        }
    }
    if t == PubSubType::Shard {
        return receivers;
    }
    if s.pubsub.patterns.is_empty() {
        return receivers;
    }
    let matching: Vec<(Bytes, Vec<Subscriber>)> = s
        .pubsub
        .patterns
        .iter()
        .filter(|(p, _)| stringmatchlen(p, channel, false))
        .map(|(p, l)| (p.clone(), l.clone()))
        .collect();
    for (pattern, subscribers) in matching {
        let m = PubSubMessage::PMessage {
            pattern,
            channel: channel.clone(),
            msg: message.clone(),
        };
        let e = Encoded::new(&m);
        for to in subscribers {
            deliver(s, current.as_deref_mut(), to, &m, &e);
            receivers += 1;
        }
    }
    receivers
}
// ANCHOR_END: pubsub_publish_message

/// The check SUBSCRIBE and PSUBSCRIBE make: a client that must get one reply per
/// command (a script, a transaction's commands) cannot enter the subscribed state.
/// MULTI is let through, as Redis does for compatibility.
fn deny_subscribe(s: &mut Server, c: &mut Client, name: &str, allow_multi: bool) -> bool {
    if c.flags & CLIENT_DENY_BLOCKING != 0 && !(allow_multi && c.flags & CLIENT_MULTI != 0) {
        let msg = format!("{name} isn't allowed for a DENY BLOCKING client");
        add_reply_error(s, c, &msg);
        return true;
    }
    false
}

/// pubsub.c: subscribeCommand
pub fn subscribe_command(s: &mut Server, c: &mut Client) {
    if deny_subscribe(s, c, "SUBSCRIBE", true) {
        return;
    }
    for j in 1..c.argv.len() {
        let ch = c.argv[j].clone();
        pubsub_subscribe_channel(s, c, &ch, PubSubType::Global);
    }
    c.flags |= CLIENT_PUBSUB;
}

/// pubsub.c: unsubscribeCommand
pub fn unsubscribe_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() == 1 {
        pubsub_unsubscribe_all_channels(s, c, true);
    } else {
        for j in 1..c.argv.len() {
            let ch = c.argv[j].clone();
            pubsub_unsubscribe_channel(s, c, &ch, true, PubSubType::Global);
        }
    }
    if client_total_pubsub_subscription_count(c) == 0 {
        c.flags &= !CLIENT_PUBSUB;
    }
}

/// pubsub.c: psubscribeCommand
pub fn psubscribe_command(s: &mut Server, c: &mut Client) {
    if deny_subscribe(s, c, "PSUBSCRIBE", true) {
        return;
    }
    for j in 1..c.argv.len() {
        let p = c.argv[j].clone();
        pubsub_subscribe_pattern(s, c, &p);
    }
    c.flags |= CLIENT_PUBSUB;
}

/// pubsub.c: punsubscribeCommand
pub fn punsubscribe_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() == 1 {
        pubsub_unsubscribe_all_patterns(s, c, true);
    } else {
        for j in 1..c.argv.len() {
            let p = c.argv[j].clone();
            pubsub_unsubscribe_pattern(s, c, &p, true);
        }
    }
    if client_total_pubsub_subscription_count(c) == 0 {
        c.flags &= !CLIENT_PUBSUB;
    }
}

/// pubsub.c: publishCommand
pub fn publish_command(s: &mut Server, c: &mut Client) {
    let (channel, message) = (c.argv[1].clone(), c.argv[2].clone());
    let receivers = pubsub_publish_message(s, Some(c), &channel, &message, PubSubType::Global);
    // Replicas must see the message too, though no key changed
    // (forceCommandPropagation(c, PROPAGATE_REPL)).
    s.force_propagation = true;
    c.add_reply_long_long(receivers as i64);
}

/// pubsub.c: spublishCommand
pub fn spublish_command(s: &mut Server, c: &mut Client) {
    let (channel, message) = (c.argv[1].clone(), c.argv[2].clone());
    let receivers = pubsub_publish_message(s, Some(c), &channel, &message, PubSubType::Shard);
    s.force_propagation = true;
    c.add_reply_long_long(receivers as i64);
}

/// pubsub.c: ssubscribeCommand
pub fn ssubscribe_command(s: &mut Server, c: &mut Client) {
    if deny_subscribe(s, c, "SSUBSCRIBE", false) {
        return;
    }
    for j in 1..c.argv.len() {
        let ch = c.argv[j].clone();
        pubsub_subscribe_channel(s, c, &ch, PubSubType::Shard);
    }
    c.flags |= CLIENT_PUBSUB;
}

/// pubsub.c: sunsubscribeCommand
pub fn sunsubscribe_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() == 1 {
        pubsub_unsubscribe_shard_all_channels(s, c, true);
    } else {
        for j in 1..c.argv.len() {
            let ch = c.argv[j].clone();
            pubsub_unsubscribe_channel(s, c, &ch, true, PubSubType::Shard);
        }
    }
    if client_total_pubsub_subscription_count(c) == 0 {
        c.flags &= !CLIENT_PUBSUB;
    }
}

const PUBSUB_HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

/// pubsub.c: pubsubCommand
pub fn pubsub_command(s: &mut Server, c: &mut Client) {
    let argc = c.argv.len();
    let sub = c.argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argc) {
        (b"help", 2) => crate::resp::add_reply_help(c, PUBSUB_HELP),
        (b"channels", 2 | 3) => {
            let pat = c.argv.get(2).cloned();
            channel_list(s, c, pat.as_deref(), PubSubType::Global);
        }
        (b"shardchannels", 2 | 3) => {
            let pat = c.argv.get(2).cloned();
            channel_list(s, c, pat.as_deref(), PubSubType::Shard);
        }
        (b"numsub", _) | (b"shardnumsub", _) => {
            let t = if sub == b"numsub" {
                PubSubType::Global
            } else {
                PubSubType::Shard
            };
            c.add_reply_array_len((argc - 2) * 2);
            for j in 2..argc {
                let ch = c.argv[j].clone();
                let n = t.server_channels(s).get(&ch[..]).map_or(0, |l| l.len());
                c.add_reply_bulk(&ch);
                c.add_reply_long_long(n as i64);
            }
        }
        (b"numpat", 2) => {
            let n = s.pubsub.patterns.len() as i64;
            c.add_reply_long_long(n);
        }
        _ => add_reply_subcommand_syntax_error(s, c),
    }
}

/// pubsub.c: channelList
fn channel_list(s: &mut Server, c: &mut Client, pat: Option<&[u8]>, t: PubSubType) {
    let names: Vec<Bytes> = t
        .server_channels(s)
        .keys()
        .filter(|ch| pat.is_none_or(|p| stringmatchlen(p, ch, false)))
        .cloned()
        .collect();
    c.add_reply_array_len(names.len());
    for ch in names {
        c.add_reply_bulk(&ch);
    }
}

/// pubsub.c: pubsubMemOverhead (what CLIENT LIST's tot-mem counts for subscriptions)
pub fn pubsub_mem_overhead(c: &Client) -> usize {
    // A list node per pattern, a dict entry and a bucket per channel, as Redis counts.
    c.pubsub.patterns.len() * 24
        + (c.pubsub.channels.len() + c.pubsub.shard_channels.len()) * (24 + 8)
}

/// The subscriptions a departing client leaves (part of networking.c: freeClient).
pub fn free_client_pubsub(s: &mut Server, c: &mut Client) {
    pubsub_unsubscribe_all_channels(s, c, false);
    pubsub_unsubscribe_shard_all_channels(s, c, false);
    pubsub_unsubscribe_all_patterns(s, c, false);
    s.pubsub.pending.retain(|(to, _)| to.1 != c.id);
}
