//! One execution for many subscribers. Subscribers of the same organisation and role who send
//! the same subscription document with the same variables form a group: the group executes the
//! subscription once and every member receives the same serialized payloads, so a status
//! change followed by a thousand dashboards costs one execution and one serialization.
//!
//! Exactness. The first subscriber starts the group and receives everything it emits. A later
//! subscriber must still receive what a subscription of its own would (the *current* state
//! first, or what came after its `after`), so it starts with an execution of its own; each of
//! its frames carries the position (the event sequence) it came from, and as soon as the group
//! has emitted that same position and still holds the frames after it, the subscriber drops
//! its own execution and continues with the group's frames from there. Frames without a
//! position (errors, operations whose resolvers do not report one) never switch.
//!
//! Subscription output may therefore depend on the caller's organisation and role only: the
//! group runs as that audience, not as any one user ([`Credential::Audience`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::{Context, Request, Response};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::{Caller, Credential, Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::events::{follow, Event, Timeline};
use crate::graphql::context::ContextExt;

/// How many of its latest frames a group keeps for subscribers switching over to it.
const RECENT_FRAMES: usize = 64;

/// One `next` payload: a GraphQL response, serialized once for every subscriber it goes to.
#[derive(Clone, Debug)]
pub struct Frame {
    pub payload: Arc<str>,
    /// The sequence of the event it renders, when the resolver reported one.
    pub position: Option<i64>,
}

impl From<&Response> for Frame {
    fn from(response: &Response) -> Self {
        Self::new(response, None)
    }
}

impl Frame {
    fn new(response: &Response, position: Option<i64>) -> Self {
        let payload = serde_json::to_string(response).unwrap_or_else(|err| {
            let error = AppError::internal(format!("a response could not be serialized: {err}"));
            serde_json::to_string(&error.into_graphql_body()).unwrap_or_default()
        });
        Self {
            payload: payload.into(),
            position,
        }
    }
}

/// Where a subscription stream is: the sequence of the event being rendered. Resolvers report
/// it through [`live`]; the executor reads it when the response for that event comes out
/// (a subscription has one root field, whose stream is not polled again until then).
#[derive(Clone, Default)]
pub struct Position(Arc<AtomicI64>);

const UNKNOWN: i64 = i64::MIN;

impl Position {
    fn unknown() -> Self {
        Self(Arc::new(AtomicI64::new(UNKNOWN)))
    }

    fn set(&self, position: Option<i64>) {
        self.0.store(position.unwrap_or(UNKNOWN), Ordering::Release);
    }

    fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Acquire)).filter(|p| *p != UNKNOWN)
    }
}

/// Wraps a subscription resolver's stream of events so that each frame it becomes carries the
/// event's sequence (see the module comment); errors carry none.
pub fn live<E: Event>(
    ctx: &Context<'_>,
    events: impl Stream<Item = AppResult<E>> + Send + 'static,
) -> impl Stream<Item = async_graphql::Result<E>> + Send + 'static {
    let position = ctx.data_opt::<Position>().cloned();
    events.map(move |item| {
        if let Some(position) = &position {
            position.set(item.as_ref().ok().map(Event::sequence));
        }
        item.map_err(Into::into)
    })
}

/// `after`, the last sequence a subscriber saw, checked against the `latest` there is:
/// waiting past a sequence not yet reached would silently skip what comes up to it.
pub fn check_after(after: Option<i64>, latest: i64, what: &str) -> AppResult<()> {
    if after.is_some_and(|after| after > latest) {
        return Err(AppError::BadInput(format!(
            "after is beyond the {what}'s latest change (sequence {latest})"
        )));
    }
    Ok(())
}

/// A subscription's stream: the timeline followed from `after` ([`follow`]: its current
/// state or what was missed, then each change once), through the fan-out.
pub fn follow_live<T: Timeline>(
    ctx: &Context<'_>,
    timeline: T,
    after: Option<i64>,
) -> impl Stream<Item = async_graphql::Result<T::Item>> + Send + 'static {
    let services = ctx.services();
    let events = follow(
        services.bus.clone(),
        timeline,
        after,
        services.config.events.recheck(),
    );
    live(ctx, events)
}

/// The subscribers a group can share with: same organisation, role, document and variables.
#[derive(Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    org_id: String,
    role: Role,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

enum Registration {
    Member,
    /// Until the group emits the position.
    Pending,
    Refused,
}

struct Group {
    state: Mutex<GroupState>,
    stop: CancellationToken,
}

#[derive(Default)]
struct GroupState {
    recent: VecDeque<Frame>,
    /// The position of the latest frame that had one.
    last: Option<i64>,
    members: Vec<mpsc::UnboundedSender<Frame>>,
    /// Subscribers waiting for the group to reach a position they have already sent.
    pending: Vec<(i64, mpsc::UnboundedSender<Frame>)>,
    finished: bool,
}

impl Group {
    /// Makes `member` a member after the group's frame at `position`: at once if the group has
    /// emitted it and still holds what came after (which is sent first), or when the group
    /// emits it if the group is not there yet. Under the state lock, so no frame can slip
    /// between the replay and the live ones.
    fn register(&self, position: i64, member: &mpsc::UnboundedSender<Frame>) -> Registration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.finished {
            return Registration::Refused;
        }
        let reached = state
            .recent
            .iter()
            .rposition(|f| f.position == Some(position));
        match reached {
            Some(at) => {
                for frame in state.recent.iter().skip(at + 1) {
                    if member.send(frame.clone()).is_err() {
                        return Registration::Refused;
                    }
                }
                state.members.push(member.clone());
                Registration::Member
            }
            None if state.last.is_none_or(|last| last < position) => {
                state.pending.push((position, member.clone()));
                Registration::Pending
            }
            None => Registration::Refused,
        }
    }

    /// Sends `frame` to every member; with `last`, the group ends with it.
    fn publish(&self, frame: Frame, last: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.recent.len() == RECENT_FRAMES {
            state.recent.pop_front();
        }
        state.recent.push_back(frame.clone());
        state
            .members
            .retain(|member| member.send(frame.clone()).is_ok());
        if let Some(position) = frame.position {
            state.last = Some(position);
            // Those waiting for this frame become members; those waiting for an earlier one
            // were passed by and carry on with their own execution.
            let (reached, waiting) = std::mem::take(&mut state.pending)
                .into_iter()
                .filter(|(wanted, _)| *wanted >= position)
                .partition::<Vec<_>, _>(|(wanted, _)| *wanted == position);
            state.pending = waiting;
            state
                .members
                .extend(reached.into_iter().map(|(_, member)| member));
        }
        if last {
            Self::end(&mut state);
        } else if state.members.is_empty() && state.pending.is_empty() {
            self.stop.cancel();
        }
    }

    /// Forgets members that have gone; with none left, the execution stops.
    fn prune(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.members.retain(|member| !member.is_closed());
        state.pending.retain(|(_, member)| !member.is_closed());
        if state.members.is_empty() && state.pending.is_empty() {
            self.stop.cancel();
        }
    }

    fn finish(&self) {
        Self::end(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn end(state: &mut GroupState) {
        state.finished = true;
        // Dropping the senders ends every member's stream after the frames already sent.
        state.members.clear();
        state.pending.clear();
    }
}

/// The groups alive now. A group lives while its execution runs and someone listens.
#[derive(Clone, Default)]
pub struct Fanout {
    groups: Arc<Mutex<HashMap<GroupKey, Weak<Group>>>>,
}

impl Fanout {
    /// The frames for one subscriber of a subscription operation (already prepared: its
    /// `query` is the document's text even when it came as a persisted-query hash).
    /// `execute` runs one execution: the caller's own, or a group's.
    pub fn subscribe(
        &self,
        execute: impl Fn(Request) -> BoxStream<'static, Response>,
        request: Request,
        caller: Caller,
    ) -> BoxStream<'static, Frame> {
        let Caller::Known(viewer) = &caller else {
            return own(&execute, request, caller).boxed();
        };
        let key = GroupKey {
            org_id: viewer.org_id.clone(),
            role: viewer.role,
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let live_group = groups
            .get(&key)
            .and_then(Weak::upgrade)
            .filter(|group| !group.state.lock().map(|s| s.finished).unwrap_or(true));
        if let Some(group) = live_group {
            drop(groups);
            return join_later(group, own(&execute, request, caller), sender, receiver);
        }
        let group = Arc::new(Group {
            state: Mutex::new(GroupState {
                members: vec![sender],
                ..GroupState::default()
            }),
            stop: CancellationToken::new(),
        });
        groups.insert(key.clone(), Arc::downgrade(&group));
        drop(groups);
        let audience = Caller::Known(Viewer {
            org_id: key.org_id.clone(),
            user_id: String::new(),
            role: key.role,
            credential: Credential::Audience,
        });
        let frames = own(&execute, request, audience);
        tokio::spawn(run_group(self.clone(), key, group.clone(), frames));
        Member { receiver, group }.boxed()
    }

    /// Drops the group's entry, unless a newer group has taken the key.
    fn forget(&self, key: &GroupKey, group: &Arc<Group>) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let ours = groups
            .get(key)
            .is_some_and(|entry| std::ptr::eq(entry.as_ptr(), Arc::as_ptr(group)));
        if ours {
            groups.remove(key);
        }
    }
}

/// A member's end of a group: leaving prunes it, so the last one out stops the execution.
struct Member {
    receiver: mpsc::UnboundedReceiver<Frame>,
    group: Arc<Group>,
}

impl Stream for Member {
    type Item = Frame;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Frame>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.receiver.close();
        self.group.prune();
    }
}

/// An execution of the caller's own, its frames tagged with their positions.
fn own(
    execute: &impl Fn(Request) -> BoxStream<'static, Response>,
    request: Request,
    caller: Caller,
) -> impl Stream<Item = Frame> + Send + 'static {
    let position = Position::unknown();
    execute(request.data(caller).data(position.clone()))
        .map(move |response| Frame::new(&response, position.get()))
}

async fn run_group(
    fanout: Fanout,
    key: GroupKey,
    group: Arc<Group>,
    frames: impl Stream<Item = Frame> + Send,
) {
    let mut frames = std::pin::pin!(frames);
    'run: loop {
        let mut frame = tokio::select! {
            frame = frames.next() => match frame {
                Some(frame) => frame,
                None => break,
            },
            _ = group.stop.cancelled() => break,
        };
        // Everything ready is published now; a last frame and the end reach members
        // together, so each can send the frame and its `complete` in one write.
        loop {
            match frames.next().now_or_never() {
                Some(Some(next)) => group.publish(std::mem::replace(&mut frame, next), false),
                Some(None) => {
                    group.publish(frame, true);
                    break 'run;
                }
                None => {
                    group.publish(frame, false);
                    break;
                }
            }
        }
    }
    fanout.forget(&key, &group);
    group.finish();
}

/// A later member: its own execution until the group takes over. After its first frame with
/// a position it registers with the group and waits for the group's frames after that
/// position; the first one ends its own execution. Should the group end or pass that position
/// first, its own execution carries on. Frames are taken in order of position, never twice.
fn join_later(
    group: Arc<Group>,
    own: impl Stream<Item = Frame> + Send + 'static,
    sender: mpsc::UnboundedSender<Frame>,
    receiver: mpsc::UnboundedReceiver<Frame>,
) -> BoxStream<'static, Frame> {
    LaterMember {
        own: Some(own.boxed()),
        sender: Some(sender),
        registered: false,
        shared: Member { receiver, group },
        last: None,
    }
    .boxed()
}

/// The stream [`join_later`] returns. Written by hand rather than as an `async_stream`: once
/// the group has taken over, each frame costs no more than a member's.
struct LaterMember {
    /// Its own execution; `None` once the group has taken over (which frees its resources).
    own: Option<BoxStream<'static, Frame>>,
    /// Its end of the group's channel, until given to the group.
    sender: Option<mpsc::UnboundedSender<Frame>>,
    /// Waiting for the group to reach its position. Meanwhile its own execution is not
    /// polled: it costs nothing, and should the group end first it resumes where it stopped.
    registered: bool,
    shared: Member,
    /// The position of the latest frame taken.
    last: Option<i64>,
}

impl LaterMember {
    /// Whether a frame of the group's comes after those already taken.
    fn take_shared(&mut self, frame: &Frame) -> bool {
        let new = frame.position.is_none() || frame.position > self.last;
        if new {
            self.last = frame.position.or(self.last);
        }
        new
    }
}

impl Stream for LaterMember {
    type Item = Frame;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Frame>> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            match &mut this.own {
                Some(own) if !this.registered => {
                    let Some(frame) = std::task::ready!(own.poll_next_unpin(cx)) else {
                        return Poll::Ready(None);
                    };
                    this.last = frame.position.or(this.last);
                    if let (Some(position), Some(member)) = (frame.position, this.sender.take()) {
                        match this.shared.group.register(position, &member) {
                            Registration::Member => this.own = None,
                            Registration::Pending => this.registered = true,
                            Registration::Refused => {}
                        }
                    }
                    return Poll::Ready(Some(frame));
                }
                Some(_) => match std::task::ready!(this.shared.poll_next_unpin(cx)) {
                    Some(frame) => {
                        this.own = None;
                        if this.take_shared(&frame) {
                            return Poll::Ready(Some(frame));
                        }
                    }
                    // The group ended before reaching its position: on with its own.
                    None => this.registered = false,
                },
                None => match std::task::ready!(this.shared.poll_next_unpin(cx)) {
                    Some(frame) => {
                        if this.take_shared(&frame) {
                            return Poll::Ready(Some(frame));
                        }
                    }
                    None => return Poll::Ready(None),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin_of(org: &str, user: &str) -> Caller {
        Caller::Known(Viewer {
            org_id: org.into(),
            user_id: user.into(),
            role: Role::Admin,
            credential: Credential::Jwt,
        })
    }

    fn groups(fanout: &Fanout) -> usize {
        fanout.groups.lock().unwrap().len()
    }

    #[tokio::test]
    async fn the_same_subscription_from_another_organisation_starts_a_group_of_its_own() {
        let fanout = Fanout::default();
        // An execution that stays open and says nothing: only the grouping is under test.
        let execute = |_: Request| futures_util::stream::pending::<Response>().boxed();
        let request = || Request::new("subscription { botStatus(botId: \"b\") { status } }");

        let _ann = fanout.subscribe(execute, request(), admin_of("acme", "ann"));
        let _bob = fanout.subscribe(execute, request(), admin_of("acme", "bob"));
        assert_eq!(groups(&fanout), 1, "a second acme admin joins acme's group");

        let _eve = fanout.subscribe(execute, request(), admin_of("globex", "eve"));
        assert_eq!(groups(&fanout), 2, "globex never shares acme's group");
    }
}
