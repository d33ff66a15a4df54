//! One incoming call as the library's user gets it: ring, answer, play,
//! read keys, reject, hang up.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::*;

/// One incoming call, handed out by [`Phone::next_call`].
pub struct IncomingCall {
    pub(super) id: CallId,
    pub(super) caller: CallerId,
    pub(super) received: Instant,
    pub(super) commands: Commands,
    pub(super) status: watch::Receiver<CallStatus>,
    /// Set by [`IncomingCall::answer_with`].
    pub(super) media: std::sync::Mutex<Option<MediaHandle>>,
    pub(super) digits: tokio::sync::Mutex<Option<mpsc::Receiver<char>>>,
}

impl IncomingCall {
    /// The call's id, as in [`Screen`] notes and events.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// Who calls: number, display name, which household number.
    pub fn caller(&self) -> &CallerId {
        &self.caller
    }

    /// When the INVITE arrived.
    pub fn received_at(&self) -> Instant {
        self.received
    }

    /// Where the call is now.
    pub fn status(&self) -> CallStatus {
        self.status.borrow().clone()
    }

    async fn command(&self, c: Command) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send((c, tx))
            .map_err(|_| CallError::Stopped)?;
        rx.await.map_err(|_| CallError::Stopped)?.map_err(|e| {
            // A call that waited while the caller hung up is gone from the
            // agent: say that it ended, and how, not that it is unknown.
            match *self.status.borrow() {
                CallStatus::Ended(how) => CallError::Ended(how),
                _ => CallError::from(e),
            }
        })
    }

    /// Sends 180 Ringing: the call keeps ringing on the other phones.
    pub async fn ring(&self) -> Result<(), CallError> {
        self.command(Command::Ring(self.id)).await
    }

    /// Answers (200 OK) and waits for the Box's ACK. No audio flows: for
    /// that, [`IncomingCall::answer_with`].
    pub async fn answer(&self) -> Result<(), CallError> {
        self.command(Command::Answer(self.id)).await?;
        self.answered().await
    }

    /// Answers with audio both ways (PCMA or PCMU as the Box offers, RTP
    /// from a socket of this call's own) and waits for the ACK; then plays
    /// `prompt`, if any, to its end. Keys the caller presses from now on
    /// come from [`IncomingCall::next_digit`]. Without G.711 in the Box's
    /// offer the call is answered without audio and this says
    /// [`CallError::NoMedia`].
    pub async fn answer_with(&self, prompt: Option<&Announcement>) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::AnswerMedia(self.id, tx)).await?;
        let media = rx.await.map_err(|_| CallError::Stopped)?;
        let has_media = media.is_some();
        if let Some((handle, digits)) = media {
            *self.media.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
            *self.digits.lock().await = Some(digits);
        }
        self.answered().await?;
        match prompt {
            Some(p) => self.play_answered(p).await,
            None if has_media => Ok(()),
            None => Err(CallError::NoMedia),
        }
    }

    /// Plays `a` to its end (RTP, paced 20 ms a frame); answers with audio
    /// first if the call still rings. Plays queue up.
    pub async fn play(&self, a: &Announcement) -> Result<(), CallError> {
        if self.status() == CallStatus::Ringing {
            return self.answer_with(Some(a)).await;
        }
        self.play_answered(a).await
    }

    async fn play_answered(&self, a: &Announcement) -> Result<(), CallError> {
        let handle = self.media.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let handle = handle.ok_or(CallError::NoMedia)?;
        if handle.play(a.clone()).await {
            Ok(())
        } else {
            Err(CallError::Ended(self.ended().await))
        }
    }

    /// The next key the caller pressed (RFC 4733 in RTP or SIP INFO):
    /// `0`–`9`, `*`, `#`, `A`–`D`; `None` once the call is over (or has
    /// no audio).
    pub async fn next_digit(&self) -> Option<char> {
        self.digits.lock().await.as_mut()?.recv().await
    }

    /// One entry of keys: until `#` (not included) or 32 keys
    /// ([`Keys::Entered`]), or `timeout` without a key ([`Keys::TimedOut`],
    /// with the keys before it). [`CallError::Ended`] once the call is
    /// over, [`CallError::NoMedia`] on a call answered without audio.
    pub async fn read_digits(&self, timeout: Duration) -> Result<Keys, CallError> {
        let mut digits = self.digits.lock().await;
        let digits = digits.as_mut().ok_or(CallError::NoMedia)?;
        match crate::media::entry(digits, timeout).await {
            Some(keys) => Ok(keys),
            None => Err(CallError::Ended(self.ended().await)),
        }
    }

    /// What a [`Verdict::Script`] does, for a call decided here: answer
    /// with audio, play, listen, hang up. Returns how the script ended.
    pub async fn run(&self, script: &Script) -> Result<ScriptEnd, CallError> {
        let end = match self.answer_with(script.announcement.as_ref()).await {
            Err(CallError::NoMedia) => ScriptEnd::NoMedia,
            Err(e) => return Err(e),
            Ok(()) => match (&script.challenge, &script.collect) {
                (Some(c), _) => {
                    let media = self.media.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let mut digits = self.digits.lock().await;
                    match (media, digits.as_mut()) {
                        (Some(m), Some(d)) => crate::media::challenge::run(&m, d, c, c.ask()).await,
                        _ => return Err(CallError::NoMedia),
                    }
                }
                (None, None) => ScriptEnd::Played,
                (None, Some(c)) => {
                    let mut digits = self.digits.lock().await;
                    let digits = digits.as_mut().ok_or(CallError::NoMedia)?;
                    match crate::media::collect(digits, c).await {
                        Some(end) => end,
                        None => return Err(CallError::Ended(self.ended().await)),
                    }
                }
            },
        };
        // Wrong PINs and then a hang-up: nothing left to hang up.
        if !matches!(self.status(), CallStatus::Ended(_)) {
            self.hang_up().await?;
        }
        Ok(end)
    }

    async fn answered(&self) -> Result<(), CallError> {
        let mut st = self.status.clone();
        loop {
            match &*st.borrow_and_update() {
                CallStatus::Answered => return Ok(()),
                CallStatus::Ended(r) => return Err(CallError::Ended(*r)),
                CallStatus::Ringing => {}
            }
            st.changed().await.map_err(|_| CallError::Stopped)?;
        }
    }

    /// Hangs up and waits until the call is over: BYE when answered (after
    /// the ACK); while still ringing, declines as [`IncomingCall::reject`]
    /// does with [`Reject::Unavailable`] (so this waits ~3 s). A call
    /// already over gives how it ended.
    pub async fn hang_up(&self) -> Result<Outcome, CallError> {
        match self.status() {
            CallStatus::Ended(how) => return Ok(how),
            CallStatus::Ringing => match self.reject(Reject::Unavailable).await {
                // Answered meanwhile (a script's prompt): a BYE then.
                Err(CallError::Command(CommandError::WrongState(..))) => {}
                other => {
                    other?;
                    return Ok(self.ended().await);
                }
            },
            CallStatus::Answered => {}
        }
        match self.command(Command::HangUp(self.id)).await {
            Ok(()) | Err(CallError::Ended(_)) => Ok(self.ended().await),
            Err(e) => Err(e),
        }
    }

    /// Answers and hangs up at once — the spam-call trick: every other
    /// phone stops ringing. Returns how the call ended.
    pub async fn terminate(&self) -> Result<Outcome, CallError> {
        self.command(Command::Answer(self.id)).await?;
        self.command(Command::HangUp(self.id)).await?;
        Ok(self.ended().await)
    }

    /// Declines the way the FRITZ!Box wants it: rings (180) for
    /// [`DECLINE_HOLD`], then sends `how`; [`Reject::Unavailable`] (480)
    /// is the one form tested on a real Box (FRITZBOX.md). Other phones
    /// keep ringing. Returns once the 180 is out; [`IncomingCall::ended`]
    /// waits for the decline.
    pub async fn reject(&self, how: Reject) -> Result<(), CallError> {
        self.reject_after(how, DECLINE_HOLD).await
    }

    /// Rings for `delay`, then declines. A delay much under
    /// [`DECLINE_HOLD`] makes the Box drop the FRITZ!Fon app from the ring
    /// group (FRITZBOX.md).
    pub async fn reject_after(&self, how: Reject, delay: Duration) -> Result<(), CallError> {
        self.command(Command::Reject(self.id, how.status(), Some(delay)))
            .await
    }

    /// Declines at once, without ringing: for registrars other than the
    /// FRITZ!Box, which then drops the FRITZ!Fon app from the ring group.
    pub async fn reject_now(&self, how: Reject) -> Result<(), CallError> {
        self.command(Command::Reject(self.id, how.status(), None))
            .await
    }

    /// Waits until the call is over, however it ends.
    pub async fn ended(&self) -> Outcome {
        let mut st = self.status.clone();
        loop {
            if let CallStatus::Ended(r) = &*st.borrow_and_update() {
                return *r;
            }
            if st.changed().await.is_err() {
                return Outcome::ByeFailed(None);
            }
        }
    }
}
