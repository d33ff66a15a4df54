//! A blocking facade over [`super::Phone`] for small scripts that do not
//! want async Rust: it runs its own single-threaded tokio runtime.
//!
//! ```no_run
//! use minisip4fb::net::{PhoneConfig, blocking::Phone};
//! let mut phone = Phone::connect(PhoneConfig::new("fritz.box", "620", "secret-password"))?;
//! while let Some(call) = phone.next_call() {
//!     println!("{} is calling", call.caller());
//!     if call.caller().number.as_deref() == Some("01701234567") {
//!         // e.g. switch a relay here
//!     }
//!     phone.ring(&call)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use tokio::runtime::Runtime;

use super::{CallError, IncomingCall, PhoneConfig, PhoneError, Reject};
use minisip4fb_proto::agent::Outcome;

/// The phone, driven from blocking code; see [`super::Phone`].
pub struct Phone {
    rt: Runtime,
    inner: super::Phone,
}

impl Phone {
    /// Binds, registers at the Box and waits until it holds our binding.
    pub fn connect(config: PhoneConfig) -> Result<Phone, PhoneError> {
        // The phone's driver has a thread of its own, which keeps
        // retransmissions and refreshes running while the script is busy.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(PhoneError::Runtime)?;
        let inner = rt.block_on(super::Phone::connect(config))?;
        Ok(Phone { rt, inner })
    }

    /// Waits for the next incoming call; `None` once the phone has stopped.
    pub fn next_call(&mut self) -> Option<IncomingCall> {
        self.rt.block_on(self.inner.next_call())
    }

    /// 180 Ringing: the call rings on the other phones too.
    pub fn ring(&self, call: &IncomingCall) -> Result<(), CallError> {
        self.rt.block_on(call.ring())
    }

    /// 200 OK: the call is ours; every other phone stops ringing.
    pub fn answer(&self, call: &IncomingCall) -> Result<(), CallError> {
        self.rt.block_on(call.answer())
    }

    /// BYE (after the ACK) for an answered call; a ringing one is declined
    /// as [`Phone::reject`] does.
    pub fn hang_up(&self, call: &IncomingCall) -> Result<Outcome, CallError> {
        self.rt.block_on(call.hang_up())
    }

    /// Answer and hang up at once: what the spam shield does.
    pub fn terminate(&self, call: &IncomingCall) -> Result<Outcome, CallError> {
        self.rt.block_on(call.terminate())
    }

    /// 200 OK with audio, then `prompt` played to its end (see
    /// [`IncomingCall::answer_with`]).
    pub fn answer_with(
        &self,
        call: &IncomingCall,
        prompt: Option<&super::Announcement>,
    ) -> Result<(), CallError> {
        self.rt.block_on(call.answer_with(prompt))
    }

    /// Plays `a` to its end.
    pub fn play(&self, call: &IncomingCall, a: &super::Announcement) -> Result<(), CallError> {
        self.rt.block_on(call.play(a))
    }

    /// One entry of keys (see [`IncomingCall::read_digits`]).
    pub fn read_digits(
        &self,
        call: &IncomingCall,
        timeout: std::time::Duration,
    ) -> Result<super::Keys, CallError> {
        self.rt.block_on(call.read_digits(timeout))
    }

    /// Declines the ringing call with `how` after ringing ~3 s, as the
    /// FRITZ!Box wants it (see [`IncomingCall::reject`]).
    pub fn reject(&self, call: &IncomingCall, how: Reject) -> Result<(), CallError> {
        self.rt.block_on(call.reject(how))
    }

    /// Ends calls in progress, unregisters and stops the phone.
    pub fn shutdown(self) -> Result<(), PhoneError> {
        self.rt.block_on(self.inner.shutdown())
    }
}
