//! An agent's settings, in the seed's JSON (`working_hours`, `translation`, `sentiment`,
//! `follow_up`), validated as a whole before anything is stored.

use std::str::FromStr;

use async_graphql::{InputObject, SimpleObject};
use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "AgentSettingsInput")]
#[serde(default)]
pub struct AgentSettings {
    pub working_hours: WorkingHours,
    pub translation: Translation,
    pub sentiment: Sentiment,
    pub follow_up: FollowUp,
}

/// The settings sections a caller sends; a section left out stays as it was.
#[derive(Debug, Clone, Default, Deserialize, InputObject)]
#[graphql(name = "AgentSettingsChange")]
pub struct SettingsChange {
    pub working_hours: Option<WorkingHours>,
    pub translation: Option<Translation>,
    pub sentiment: Option<Sentiment>,
    pub follow_up: Option<FollowUp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "WorkingHoursInput")]
#[serde(default)]
pub struct WorkingHours {
    pub enabled: bool,
    /// An IANA time zone, such as `Europe/Madrid`.
    pub timezone: String,
    pub schedule: WeekSchedule,
    /// Sent instead of a reply outside working hours, at most once a day per conversation.
    pub away_message: String,
}

impl Default for WorkingHours {
    fn default() -> Self {
        Self {
            enabled: false,
            timezone: "UTC".into(),
            schedule: WeekSchedule::default(),
            away_message: String::new(),
        }
    }
}

/// Opening hours per weekday; a day left out is closed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "WeekScheduleInput")]
#[serde(default)]
pub struct WeekSchedule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monday: Option<DayHours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuesday: Option<DayHours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wednesday: Option<DayHours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thursday: Option<DayHours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friday: Option<DayHours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saturday: Option<DayHours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sunday: Option<DayHours>,
}

impl WeekSchedule {
    fn days(&self) -> [(Weekday, &Option<DayHours>); 7] {
        [
            (Weekday::Mon, &self.monday),
            (Weekday::Tue, &self.tuesday),
            (Weekday::Wed, &self.wednesday),
            (Weekday::Thu, &self.thursday),
            (Weekday::Fri, &self.friday),
            (Weekday::Sat, &self.saturday),
            (Weekday::Sun, &self.sunday),
        ]
    }

    fn on(&self, day: Weekday) -> Option<&DayHours> {
        self.days()
            .into_iter()
            .find(|(d, _)| *d == day)
            .and_then(|(_, hours)| hours.as_ref())
    }
}

/// `HH:MM` to `HH:MM`, the end after the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "DayHoursInput")]
pub struct DayHours {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "TranslationInput")]
#[serde(default)]
pub struct Translation {
    pub enabled: bool,
    /// The agent's own language (ISO 639-1), which its prompt and replies are in.
    pub source_language: String,
    pub auto_detect: bool,
    pub translate_incoming: bool,
    pub translate_outgoing: bool,
}

impl Default for Translation {
    fn default() -> Self {
        Self {
            enabled: false,
            source_language: "en".into(),
            auto_detect: true,
            translate_incoming: true,
            translate_outgoing: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "SentimentInput")]
#[serde(default)]
pub struct Sentiment {
    pub enabled: bool,
    pub alert_on_negative: bool,
    /// A message scoring at or under minus this (0..1) is negative.
    pub negative_threshold: f64,
    /// A very negative message turns the conversation over to a person.
    pub escalate_on_very_negative: bool,
}

impl Default for Sentiment {
    fn default() -> Self {
        Self {
            enabled: false,
            alert_on_negative: true,
            negative_threshold: 0.5,
            escalate_on_very_negative: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "FollowUpInput")]
#[serde(default)]
pub struct FollowUp {
    pub enabled: bool,
    pub delay_minutes: i32,
    pub max_follow_ups: i32,
    pub only_if_no_reply: bool,
    /// The n-th follow-up sends the n-th message (the last one again once they run out).
    pub messages: Vec<String>,
}

impl Default for FollowUp {
    fn default() -> Self {
        Self {
            enabled: false,
            delay_minutes: 60,
            max_follow_ups: 1,
            only_if_no_reply: true,
            messages: Vec::new(),
        }
    }
}

fn bad(detail: String) -> AppError {
    AppError::BadInput(detail)
}

fn parse_time(field: &str, value: &str) -> AppResult<NaiveTime> {
    NaiveTime::parse_from_str(value.trim(), "%H:%M")
        .map_err(|_| bad(format!("{field} must be a time as HH:MM, not '{value}'")))
}

impl AgentSettings {
    /// As stored in the agent's row.
    pub fn to_json(&self) -> AppResult<String> {
        serde_json::to_string(self).map_err(|err| AppError::internal(format!("settings: {err}")))
    }

    /// These settings with `change`'s sections in place of theirs.
    pub fn with(mut self, change: SettingsChange) -> Self {
        if let Some(section) = change.working_hours {
            self.working_hours = section;
        }
        if let Some(section) = change.translation {
            self.translation = section;
        }
        if let Some(section) = change.sentiment {
            self.sentiment = section;
        }
        if let Some(section) = change.follow_up {
            self.follow_up = section;
        }
        self
    }

    /// Every rule at once, so one answer names the first field that breaks one.
    pub fn validate(&self) -> AppResult<()> {
        let hours = &self.working_hours;
        Tz::from_str(hours.timezone.trim()).map_err(|_| {
            bad(format!(
                "settings.working_hours.timezone '{}' is not an IANA time zone (such as Europe/Madrid)",
                hours.timezone
            ))
        })?;
        for (day, day_hours) in hours.schedule.days() {
            let Some(day_hours) = day_hours else { continue };
            let field = format!("settings.working_hours.schedule.{}", weekday_name(day));
            let start = parse_time(&format!("{field}.start"), &day_hours.start)?;
            let end = parse_time(&format!("{field}.end"), &day_hours.end)?;
            if end <= start {
                return Err(bad(format!("{field}.end must be after its start")));
            }
        }
        if hours.enabled {
            crate::input::text(
                "settings.working_hours.away_message",
                &hours.away_message,
                4096,
            )?;
        }
        let language = &self.translation.source_language;
        if !crate::text_analysis::is_known_language_code(language) {
            return Err(bad(format!(
                "settings.translation.source_language '{language}' is not an ISO 639-1 language code"
            )));
        }
        let threshold = self.sentiment.negative_threshold;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(bad(
                "settings.sentiment.negative_threshold must be between 0 and 1".into(),
            ));
        }
        let follow_up = &self.follow_up;
        if !(1..=30 * 24 * 60).contains(&follow_up.delay_minutes) {
            return Err(bad(
                "settings.follow_up.delay_minutes must be between 1 and 43200 (30 days)".into(),
            ));
        }
        if !(0..=10).contains(&follow_up.max_follow_ups) {
            return Err(bad(
                "settings.follow_up.max_follow_ups must be between 0 and 10".into(),
            ));
        }
        if follow_up.enabled && follow_up.messages.is_empty() {
            return Err(bad(
                "settings.follow_up.messages must hold at least one message when follow-ups are enabled".into(),
            ));
        }
        for message in &follow_up.messages {
            crate::input::text("settings.follow_up.messages[]", message, 4096)?;
        }
        Ok(())
    }

    /// Whether the agent answers at `at`: always, unless working hours are on and `at` falls
    /// outside the day's hours in the agent's time zone.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let hours = &self.working_hours;
        if !hours.enabled {
            return true;
        }
        let tz = Tz::from_str(hours.timezone.trim()).unwrap_or(chrono_tz::UTC);
        let local = at.with_timezone(&tz);
        let Some(day) = hours.schedule.on(local.weekday()) else {
            return false;
        };
        match (
            NaiveTime::parse_from_str(&day.start, "%H:%M"),
            NaiveTime::parse_from_str(&day.end, "%H:%M"),
        ) {
            (Ok(start), Ok(end)) => (start..end).contains(&local.time()),
            _ => false,
        }
    }

    /// The first time at or after `after` when the agent is open (`after` itself when it is):
    /// the start of the next day's hours in the agent's time zone; `None` when no day of the
    /// week has hours.
    pub fn next_opening(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(after) {
            return Some(after);
        }
        let hours = &self.working_hours;
        let tz = Tz::from_str(hours.timezone.trim()).unwrap_or(chrono_tz::UTC);
        let today = after.with_timezone(&tz).date_naive();
        // A week and a day: today's opening may have passed, the same weekday's next one not.
        (0..=7)
            .filter_map(|n| today.checked_add_days(chrono::Days::new(n)))
            .filter_map(|day| {
                let open = hours.schedule.on(day.weekday())?;
                let start = NaiveTime::parse_from_str(&open.start, "%H:%M").ok()?;
                // A start in a DST gap opens at the first valid minute after it.
                (0..=120)
                    .filter_map(|m| {
                        let local = day.and_time(start) + chrono::Duration::minutes(m);
                        local.and_local_timezone(tz).earliest()
                    })
                    .next()
            })
            .map(|at| at.to_utc())
            .find(|at| *at > after)
    }

    /// The date at `at` in the agent's time zone: the away message goes once per such day.
    pub fn local_day(&self, at: DateTime<Utc>) -> String {
        let tz = Tz::from_str(self.working_hours.timezone.trim()).unwrap_or(chrono_tz::UTC);
        at.with_timezone(&tz).format("%Y-%m-%d").to_string()
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_working_hours() -> AgentSettings {
        let nine_to_six = || {
            Some(DayHours {
                start: "09:00".into(),
                end: "18:00".into(),
            })
        };
        AgentSettings {
            working_hours: WorkingHours {
                enabled: true,
                timezone: "UTC".into(),
                schedule: WeekSchedule {
                    monday: nine_to_six(),
                    tuesday: nine_to_six(),
                    wednesday: nine_to_six(),
                    thursday: nine_to_six(),
                    friday: nine_to_six(),
                    ..WeekSchedule::default()
                },
                away_message: "We are currently offline.".into(),
            },
            ..AgentSettings::default()
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_seeds_working_hours_are_open_at_ten_and_closed_at_eight_in_the_evening() {
        let settings = seed_working_hours();
        settings.validate().unwrap();
        // 2026-12-07 is a Monday.
        assert!(settings.is_open(at("2026-12-07T10:00:00Z")));
        assert!(!settings.is_open(at("2026-12-07T20:00:00Z")));
        assert!(
            !settings.is_open(at("2026-12-06T10:00:00Z")),
            "Sunday is closed"
        );
    }

    #[test]
    fn working_hours_are_read_in_the_agents_time_zone() {
        let mut settings = seed_working_hours();
        settings.working_hours.timezone = "Asia/Tokyo".into();
        // 01:00 UTC on Monday is 10:00 in Tokyo.
        assert!(settings.is_open(at("2026-12-07T01:00:00Z")));
        assert_eq!(settings.local_day(at("2026-12-06T20:00:00Z")), "2026-12-07");
    }

    #[test]
    fn the_next_opening_is_now_when_open_else_the_next_days_start_in_the_agents_zone() {
        let mut settings = seed_working_hours();
        // Monday 10:00 is open: now.
        let monday_ten = at("2026-12-07T10:00:00Z");
        assert_eq!(settings.next_opening(monday_ten), Some(monday_ten));
        // Monday 07:00: 09:00 the same day.
        assert_eq!(
            settings.next_opening(at("2026-12-07T07:00:00Z")),
            Some(at("2026-12-07T09:00:00Z"))
        );
        // Monday 18:00 (closing time): Tuesday 09:00.
        assert_eq!(
            settings.next_opening(at("2026-12-07T18:00:00Z")),
            Some(at("2026-12-08T09:00:00Z"))
        );
        // Friday evening: over the closed weekend to Monday 09:00.
        assert_eq!(
            settings.next_opening(at("2026-12-11T20:00:00Z")),
            Some(at("2026-12-14T09:00:00Z"))
        );
        // In Madrid (UTC+1 in December) Monday 09:00 is 08:00 UTC.
        settings.working_hours.timezone = "Europe/Madrid".into();
        assert_eq!(
            settings.next_opening(at("2026-12-06T12:00:00Z")),
            Some(at("2026-12-07T08:00:00Z"))
        );
        // Only Monday open, asked on Monday after closing: the next Monday.
        settings.working_hours.schedule = WeekSchedule {
            monday: settings.working_hours.schedule.monday.clone(),
            ..WeekSchedule::default()
        };
        assert_eq!(
            settings.next_opening(at("2026-12-07T19:00:00Z")),
            Some(at("2026-12-14T08:00:00Z"))
        );
        // Working hours off: always open.
        settings.working_hours.enabled = false;
        assert_eq!(settings.next_opening(monday_ten), Some(monday_ten));
    }

    #[test]
    fn a_schedule_with_no_open_day_never_opens() {
        let mut settings = seed_working_hours();
        settings.working_hours.schedule = WeekSchedule::default();
        assert_eq!(settings.next_opening(at("2026-12-07T10:00:00Z")), None);
    }

    #[test]
    fn an_opening_in_a_dst_gap_is_the_first_minute_that_exists() {
        let mut settings = seed_working_hours();
        settings.working_hours.timezone = "Europe/Madrid".into();
        settings.working_hours.schedule = WeekSchedule {
            sunday: Some(DayHours {
                start: "02:30".into(),
                end: "05:00".into(),
            }),
            ..WeekSchedule::default()
        };
        // 2027-03-28 is the Sunday Madrid skips 02:00-03:00: it opens at 03:00 CEST (01:00 UTC).
        assert_eq!(
            settings.next_opening(at("2027-03-27T12:00:00Z")),
            Some(at("2027-03-28T01:00:00Z"))
        );
    }

    #[test]
    fn the_seeds_json_reads_into_settings_with_the_other_sections_left_default() {
        let json = serde_json::json!({"sentiment": {"enabled": true, "alert_on_negative": true,
            "negative_threshold": 0.5, "escalate_on_very_negative": true}});
        let change: SettingsChange = serde_json::from_value(json).unwrap();
        let settings = AgentSettings::default().with(change);
        assert!(settings.sentiment.escalate_on_very_negative);
        assert_eq!(settings.working_hours, WorkingHours::default());
        settings.validate().unwrap();
    }

    #[test]
    fn each_bad_setting_is_refused_naming_its_field() {
        type Spoil = fn(&mut AgentSettings);
        let cases: [(&str, Spoil); 6] = [
            ("timezone", |s| {
                s.working_hours.timezone = "Mars/Olympus".into()
            }),
            ("monday.end", |s| {
                s.working_hours.schedule.monday = Some(DayHours {
                    start: "18:00".into(),
                    end: "09:00".into(),
                })
            }),
            ("negative_threshold", |s| {
                s.sentiment.negative_threshold = 1.5
            }),
            ("away_message", |s| {
                s.working_hours.away_message = "  ".into()
            }),
            ("source_language", |s| {
                s.translation.source_language = "xx".into()
            }),
            ("follow_up.messages", |s| {
                s.follow_up.enabled = true;
                s.follow_up.messages.clear();
            }),
        ];
        for (field, spoil) in cases {
            let mut settings = seed_working_hours();
            spoil(&mut settings);
            let err = settings.validate().unwrap_err();
            assert!(
                matches!(&err, AppError::BadInput(m) if m.contains(field)),
                "{field}: {err:?}"
            );
        }
    }
}
