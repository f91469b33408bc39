//! The business date: the calendar date in the configured time zone, moved on early by a
//! cutover (0800 with DE 70 = 201).
//!
//! DESIGN.md: "DE 15 in responses is the business date MMDD". The date lives in one
//! `AtomicU32` (packed `yyyymmdd`) so that reading it on every request takes no lock and a
//! cutover is a single compare-and-swap: processing never pauses at the day change. The date
//! only moves forward: the clock can catch up with a cutover, never undo it.

use std::sync::atomic::{AtomicU32, Ordering};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The switch's business date; cheap to read from any task.
#[derive(Debug)]
pub struct BusinessDate {
    tz: TimeZone,
    packed: AtomicU32,
    /// Added to the wall clock by [`BusinessDate::today`] and [`BusinessDate::cutover`]
    /// (`business_date.clock_offset_s`, a test knob); zero in production.
    offset: SignedDuration,
}

fn pack(d: Date) -> u32 {
    // Years are 1..=9999 for dates we produce; the packing keeps numeric order = date order.
    (d.year().max(0) as u32) * 10_000 + (d.month() as u32) * 100 + d.day() as u32
}

fn unpack(p: u32) -> Date {
    Date::new(
        (p / 10_000) as i16,
        ((p / 100) % 100) as i8,
        (p % 100) as i8,
    )
    .unwrap_or(Date::constant(2000, 1, 1))
}

impl BusinessDate {
    /// Starts at `now`'s date in `tz`.
    pub fn new(tz: TimeZone, now: Timestamp) -> Self {
        let d = now.to_zoned(tz.clone()).date();
        BusinessDate {
            tz,
            packed: AtomicU32::new(pack(d)),
            offset: SignedDuration::ZERO,
        }
    }

    /// From a time zone name (IANA); the name was validated with the config.
    pub fn from_zone_name(name: &str) -> Result<Self, jiff::Error> {
        Self::with_clock_offset(name, 0)
    }

    /// From a time zone name, its clock running `offset_s` seconds ahead of the wall clock
    /// (behind when negative): `business_date.clock_offset_s`.
    pub fn with_clock_offset(name: &str, offset_s: i64) -> Result<Self, jiff::Error> {
        let offset = SignedDuration::from_secs(offset_s);
        let mut bd = Self::new(TimeZone::get(name)?, Timestamp::now().checked_add(offset)?);
        bd.offset = offset;
        Ok(bd)
    }

    /// The business clock's reading: the wall clock plus the configured offset.
    fn clock(&self) -> Timestamp {
        let now = Timestamp::now();
        now.checked_add(self.offset).unwrap_or(now)
    }

    /// The business date at `now`: the clock's date unless a cutover already moved past it.
    pub fn at(&self, now: Timestamp) -> Date {
        let clock = pack(now.to_zoned(self.tz.clone()).date());
        let cur = self.packed.load(Ordering::Acquire);
        if cur >= clock {
            // The common case: a plain load, no write to the shared cache line.
            return unpack(cur);
        }
        let prev = self.packed.fetch_max(clock, Ordering::AcqRel);
        unpack(prev.max(clock))
    }

    /// The business date now.
    pub fn today(&self) -> Date {
        self.at(self.clock())
    }

    /// The calendar date now in the zone (with the clock offset), whatever the cutovers: the
    /// business date is this or later.
    pub fn calendar(&self) -> Date {
        self.clock().to_zoned(self.tz.clone()).date()
    }

    /// Cutover at `now`: the business date moves on to the day after the current one.
    /// Returns the new date.
    pub fn cutover_at(&self, now: Timestamp) -> Date {
        let clock = pack(now.to_zoned(self.tz.clone()).date());
        let mut next = 0;
        // fetch_update retries only if another cutover raced us; no lock, no I/O inside.
        let _ = self
            .packed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let base = unpack(cur.max(clock));
                next = pack(base.tomorrow().unwrap_or(base));
                Some(next)
            });
        unpack(next)
    }

    /// Cutover now.
    pub fn cutover(&self) -> Date {
        self.cutover_at(self.clock())
    }

    /// Moves the business date on to `date` unless it is already there or later: a cutover
    /// recorded in the ledger (by this instance, another one, or before a restart). Returns
    /// the business date after the move.
    pub fn advance_to(&self, date: Date) -> Date {
        let want = pack(date);
        let prev = self.packed.fetch_max(want, Ordering::AcqRel);
        unpack(prev.max(want))
    }

    /// DE 15 form: `MMDD`.
    pub fn mmdd(date: Date) -> String {
        format!("{:02}{:02}", date.month(), date.day())
    }

    /// The time zone of the clock.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn follows_the_time_zone_calendar() {
        let seoul = TimeZone::get("Asia/Seoul").unwrap();
        // 2026-03-31 16:00 UTC is already April 1st in Seoul (UTC+9).
        let bd = BusinessDate::new(seoul, ts("2026-03-31T10:00:00Z"));
        assert_eq!(
            bd.at(ts("2026-03-31T10:00:00Z")),
            Date::constant(2026, 3, 31)
        );
        assert_eq!(
            bd.at(ts("2026-03-31T16:00:00Z")),
            Date::constant(2026, 4, 1)
        );
    }

    #[test]
    fn cutover_moves_on_and_the_clock_does_not_undo_it() {
        let bd = BusinessDate::new(TimeZone::UTC, ts("2026-12-31T23:50:00Z"));
        let new = bd.cutover_at(ts("2026-12-31T23:50:00Z"));
        assert_eq!(new, Date::constant(2027, 1, 1));
        assert_eq!(BusinessDate::mmdd(new), "0101");
        assert_eq!(
            bd.at(ts("2026-12-31T23:55:00Z")),
            Date::constant(2027, 1, 1)
        );
        // Midnight: the clock reaches the cutover date; the date does not move again.
        assert_eq!(
            bd.at(ts("2027-01-01T00:05:00Z")),
            Date::constant(2027, 1, 1)
        );
        // The next night's cutover moves on from there.
        assert_eq!(
            bd.cutover_at(ts("2027-01-01T23:50:00Z")),
            Date::constant(2027, 1, 2)
        );
    }

    #[test]
    fn advancing_to_a_recorded_cutover_only_moves_forward() {
        let bd = BusinessDate::new(TimeZone::UTC, ts("2026-11-26T10:00:00Z"));
        let at = ts("2026-11-26T10:00:01Z");
        assert_eq!(
            bd.advance_to(Date::constant(2026, 11, 27)),
            Date::constant(2026, 11, 27)
        );
        assert_eq!(bd.at(at), Date::constant(2026, 11, 27));
        // An older cutover (read back later, or from a lagging instance) changes nothing.
        assert_eq!(
            bd.advance_to(Date::constant(2026, 11, 20)),
            Date::constant(2026, 11, 27)
        );
        assert_eq!(bd.at(at), Date::constant(2026, 11, 27));
        // The next cutover moves on from the advanced date.
        assert_eq!(bd.cutover_at(at), Date::constant(2026, 11, 28));
    }

    #[test]
    fn clock_offset_moves_the_calendar_only() {
        let now = Timestamp::now();
        let today = now.to_zoned(TimeZone::UTC).date();
        let ahead = BusinessDate::with_clock_offset("UTC", 86_400).unwrap();
        let tomorrow = today.tomorrow().unwrap();
        // Evaluated a moment after `now`: midnight may have passed in between.
        assert!([tomorrow, tomorrow.tomorrow().unwrap()].contains(&ahead.today()));
        let behind = BusinessDate::with_clock_offset("UTC", -86_400).unwrap();
        assert!([today.yesterday().unwrap(), today].contains(&behind.today()));
        assert!(BusinessDate::with_clock_offset("UTC", i64::MAX).is_err());
    }

    #[test]
    fn concurrent_cutovers_each_advance_once() {
        let bd = std::sync::Arc::new(BusinessDate::new(TimeZone::UTC, ts("2026-01-01T00:00:00Z")));
        let now = ts("2026-01-01T00:00:00Z");
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let bd = bd.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        bd.cutover_at(now);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(bd.at(now), Date::constant(2026, 2, 10));
    }
}
