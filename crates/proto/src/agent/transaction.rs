//! Retransmission timers of RFC 3261 §17 for an unreliable transport.

use std::time::{Duration, Instant};

/// RFC 3261 §17.1.1.1: RTT estimate.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 §17.1.2.2: maximum retransmit interval for non-INVITE requests
/// and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// RFC 3261 §17.1.2.2: how long a message may stay in the network.
pub const T4: Duration = Duration::from_secs(5);
/// 64·T1: timers B, F, H and J.
pub const TIMEOUT: Duration = Duration::from_secs(32);

/// A message resent on a doubling schedule capped at T2 until `give_up`:
/// timer E/F for our non-INVITE requests (§17.1.2.2), timer G/H for our
/// final responses to an INVITE (§17.2.1, §13.3.1.4).
#[derive(Debug, Clone)]
pub struct Retransmit {
    /// The message to resend.
    pub data: Vec<u8>,
    next: Instant,
    interval: Duration,
    /// When it is given up on (64·T1).
    pub give_up: Instant,
}

/// What a retransmission timer wants done now.
#[derive(Debug, PartialEq, Eq)]
pub enum Fire {
    /// Not yet.
    Nothing,
    /// Send `data` again.
    Resend,
    /// Time is up: the transaction failed.
    GaveUp,
}

impl Retransmit {
    /// First resend after T1.
    pub fn new(now: Instant, data: Vec<u8>) -> Retransmit {
        Retransmit {
            data,
            next: now + T1,
            interval: T1,
            give_up: now + TIMEOUT,
        }
    }

    /// When [`Retransmit::poll`] has something to do.
    pub fn deadline(&self) -> Instant {
        self.next.min(self.give_up)
    }

    /// §17.1.2.2: after a provisional response, resend every T2.
    pub fn provisional(&mut self, now: Instant) {
        self.interval = T2;
        self.next = now + T2;
    }

    /// What to do at `now`; a resend doubles the interval up to T2.
    pub fn poll(&mut self, now: Instant) -> Fire {
        if now >= self.give_up {
            Fire::GaveUp
        } else if now >= self.next {
            self.interval = (self.interval * 2).min(T2);
            self.next = now + self.interval;
            Fire::Resend
        } else {
            Fire::Nothing
        }
    }
}

/// Our outstanding non-INVITE request (REGISTER or BYE).
#[derive(Debug, Clone)]
pub struct ClientTx {
    /// Its Via branch, which matches the response (§17.1.3).
    pub branch: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// Where it went.
    pub dest: std::net::SocketAddr,
    /// Its resends.
    pub timer: Retransmit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_schedule_capped_at_t2() {
        let t0 = Instant::now();
        let mut r = Retransmit::new(t0, vec![]);
        let mut sends = vec![];
        let mut t = t0;
        while t < t0 + Duration::from_secs(40) {
            t += Duration::from_millis(10);
            match r.poll(t) {
                Fire::Resend => sends.push((t - t0).as_millis() / 10 * 10),
                Fire::GaveUp => break,
                Fire::Nothing => {}
            }
        }
        assert_eq!(&sends[..5], &[500, 1500, 3500, 7500, 11500]);
        assert_eq!(t - t0, TIMEOUT);
    }
}
