//! Languages of what people read (the board report, CLI messages, the web UI's strings):
//! Fluent catalogues in `collector/locales/<lang>/*.ftl`, which a translator edits as text,
//! embedded at build time; numbers and dates in the language's format, times in a named
//! zone (Europe/Amsterdam unless configured).
//!
//! Machine formats (JSON, CSV, `data-*` attributes) never go through here: they stay the same
//! in every language.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// The catalogues, per language: one `.ftl` file per surface. A key missing from one language
/// fails `every_key_is_in_every_language`, so a translator cannot forget one.
const CATALOGUES: [(Lang, &[(&str, &str)]); 2] = [
    (
        Lang::En,
        &[
            ("common.ftl", include_str!("../locales/en/common.ftl")),
            ("report.ftl", include_str!("../locales/en/report.ftl")),
            ("cli.ftl", include_str!("../locales/en/cli.ftl")),
            ("ui.ftl", include_str!("../locales/en/ui.ftl")),
        ],
    ),
    (
        Lang::Nl,
        &[
            ("common.ftl", include_str!("../locales/nl/common.ftl")),
            ("report.ftl", include_str!("../locales/nl/report.ftl")),
            ("cli.ftl", include_str!("../locales/nl/cli.ftl")),
            ("ui.ftl", include_str!("../locales/nl/ui.ftl")),
        ],
    ),
];

/// The time zone dates and times are shown in unless configured (`time_zone`): the users are
/// Dutch public bodies.
pub const DEFAULT_TIME_ZONE: &str = "Europe/Amsterdam";

/// A language people read landmeter in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Nl,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Nl];

    /// The BCP 47 primary tag (`<html lang>`, `--lang`, the catalogue's folder).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: use nl or en (a region such as nl-NL is accepted)")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;

    /// `nl`, `NL`, `nl-NL`, `nl_BE`, `en-GB`, `en_US.UTF-8` (a `LANG`-style value).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let primary = s
            .trim()
            .split(['-', '_', '.'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "nl" => Ok(Lang::Nl),
            "en" => Ok(Lang::En),
            _ => Err(UnknownLang(s.to_owned())),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Lang {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

type Bundle = FluentBundle<FluentResource>;

fn bundle(lang: Lang) -> &'static Bundle {
    static EN: OnceLock<Bundle> = OnceLock::new();
    static NL: OnceLock<Bundle> = OnceLock::new();
    let cell = match lang {
        Lang::En => &EN,
        Lang::Nl => &NL,
    };
    cell.get_or_init(|| build_bundle(lang))
}

fn build_bundle(lang: Lang) -> Bundle {
    let id: unic_langid::LanguageIdentifier = lang
        .code()
        .parse()
        .unwrap_or_else(|_| unic_langid::LanguageIdentifier::default());
    let mut b = Bundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: the output is HTML and terminals in
    // left-to-right languages, where they would only be invisible noise in copied text.
    b.set_use_isolating(false);
    for (file, text) in files(lang) {
        match FluentResource::try_new((*text).to_owned()) {
            Ok(res) => {
                if let Err(errors) = b.add_resource(res) {
                    tracing::error!(lang = %lang, file, ?errors, "catalogue entries overridden");
                }
            }
            // Parsed entries are kept; the broken ones are logged and show as their key.
            Err((res, errors)) => {
                tracing::error!(lang = %lang, file, ?errors, "catalogue does not parse");
                let _ = b.add_resource(res);
            }
        }
    }
    b
}

fn files(lang: Lang) -> &'static [(&'static str, &'static str)] {
    CATALOGUES
        .iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, f)| *f)
        .unwrap_or(&[])
}

/// A message without arguments. A key missing from the catalogue shows as the key itself
/// (and the catalogue test fails), never as an empty string.
pub fn t(lang: Lang, key: &str) -> String {
    ta(lang, key, &[])
}

/// A message with arguments: `ta(lang, "report-stores", &[("n", "12".into())])`. Numbers are
/// passed already formatted ([`number`]) so grouping follows the language.
pub fn ta(lang: Lang, key: &str, args: &[(&str, Arg)]) -> String {
    let b = bundle(lang);
    let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
        tracing::warn!(lang = %lang, key, "message missing from the catalogue");
        return key.to_owned();
    };
    let mut fargs = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Text(s) => fargs.set(*name, FluentValue::from(s.as_str())),
            // For plural selectors (`[one]`); shown as plain digits.
            Arg::Count(n) => fargs.set(*name, FluentValue::from(*n as f64)),
        }
    }
    let mut errors = Vec::new();
    let text = b.format_pattern(pattern, Some(&fargs), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(lang = %lang, key, ?errors, "message formatted with errors");
    }
    text.into_owned()
}

/// A message argument: text shown as given, or a count that plural variants select on.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Count(u64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(s.clone())
    }
}

/// Every message id of a language's catalogues, sorted (the catalogue test; the UI's
/// catalogue is the `ui-` messages).
pub fn keys(lang: Lang) -> Vec<String> {
    let mut keys: Vec<String> = files(lang)
        .iter()
        .flat_map(|(_, text)| message_ids(text))
        .collect();
    keys.sort();
    keys
}

/// Message ids: a Fluent message starts at the beginning of a line with its identifier and
/// `=` (terms start with `-`, comments with `#`, continuation lines are indented).
fn message_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (id, _) = line.split_once('=')?;
            let id = id.trim_end();
            let mut chars = id.chars();
            (chars.next()?.is_ascii_alphabetic()
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .then(|| id.to_owned())
        })
        .collect()
}

/// The messages whose id starts with `prefix`, formatted without arguments: what the web
/// UI fetches (`GET /ui/locales/<lang>.json`), from the same catalogues as everything else.
/// A variable has no value here, so Fluent writes it as `{$name}`: the UI fills those in (and
/// its messages use no selectors, which would fall to their default variant).
pub fn messages_with_prefix(lang: Lang, prefix: &str) -> Vec<(String, String)> {
    let b = bundle(lang);
    keys(lang)
        .into_iter()
        .filter(|k| k.starts_with(prefix))
        .filter_map(|k| {
            let pattern = b.get_message(&k)?.value()?;
            // The only errors here are the unfilled variables, which are meant.
            let mut unfilled = Vec::new();
            let v = b.format_pattern(pattern, None, &mut unfilled).into_owned();
            Some((k, v))
        })
        .collect()
}

/// Where and how people read figures: the language and the time zone of dates and times.
#[derive(Debug, Clone)]
pub struct Locale {
    pub lang: Lang,
    pub zone: jiff::tz::TimeZone,
}

impl Default for Locale {
    fn default() -> Self {
        Self::new(Lang::default(), DEFAULT_TIME_ZONE).unwrap_or(Self {
            lang: Lang::default(),
            zone: jiff::tz::TimeZone::UTC,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown time zone {name:?} (an IANA name such as Europe/Amsterdam or UTC): {source}")]
pub struct UnknownZone {
    name: String,
    source: jiff::Error,
}

impl Locale {
    /// `zone`: an IANA name (`Europe/Amsterdam`, `UTC`), from the bundled tz database.
    pub fn new(lang: Lang, zone: &str) -> Result<Self, UnknownZone> {
        let zone = jiff::tz::TimeZone::get(zone.trim()).map_err(|source| UnknownZone {
            name: zone.to_owned(),
            source,
        })?;
        Ok(Self { lang, zone })
    }

    pub fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }

    pub fn ta(&self, key: &str, args: &[(&str, Arg)]) -> String {
        ta(self.lang, key, args)
    }

    /// Date and time, from Unix ms, in this zone with its abbreviation: `2026-12-06 21:50 CET`
    /// (English), `06-12-2026 21:50 CET` (Dutch).
    pub fn datetime(&self, ms: i64) -> String {
        let Some(z) = self.zoned(ms) else {
            return format!("{ms} ms");
        };
        let time = z.strftime("%H:%M %Z").to_string();
        format!("{} {time}", self.date_of(&z))
    }

    /// The day, from Unix ms, in this zone.
    pub fn date(&self, ms: i64) -> String {
        self.zoned(ms)
            .map(|z| self.date_of(&z))
            .unwrap_or_else(|| format!("{ms} ms"))
    }

    fn zoned(&self, ms: i64) -> Option<jiff::ZonedDateTime> {
        jiff::Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned_datetime(self.zone.clone()))
    }

    fn date_of(&self, z: &jiff::ZonedDateTime) -> String {
        match self.lang {
            Lang::En => z.strftime("%Y-%m-%d").to_string(),
            Lang::Nl => z.strftime("%d-%m-%Y").to_string(),
        }
    }

    /// A number with `decimals` digits after the separator, grouped by thousands.
    pub fn number(&self, v: f64, decimals: usize) -> String {
        number(self.lang, v, decimals)
    }

    /// An integer (any integer type) grouped by thousands.
    pub fn int(&self, v: impl fmt::Display) -> String {
        let text = v.to_string();
        match text.parse::<i128>() {
            Ok(n) => int(self.lang, n),
            Err(_) => text,
        }
    }

    /// An amount in euro: `1,234.56 EUR` / `€ 1.234,56`.
    pub fn eur(&self, v: f64) -> String {
        match self.lang {
            Lang::En => format!("{} EUR", number(Lang::En, v, 2)),
            Lang::Nl => format!("€ {}", number(Lang::Nl, v, 2)),
        }
    }

    /// A percentage rounded to a whole number: `12 %` / `12%`.
    pub fn percent(&self, share: f64) -> String {
        let n = number(self.lang, share * 100.0, 0);
        match self.lang {
            Lang::En => format!("{n} %"),
            Lang::Nl => format!("{n}%"),
        }
    }

    /// Bytes in decimal units: `1.5 MB` / `1,5 MB` (the exact figure belongs in `data-*`).
    pub fn bytes(&self, b: i64) -> String {
        const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
        let mut v = b as f64;
        let mut i = 0;
        while v.abs() >= 1000.0 && i < UNITS.len() - 1 {
            v /= 1000.0;
            i += 1;
        }
        if i == 0 {
            format!("{} B", self.int(b))
        } else {
            format!("{} {}", self.number(v, 1), UNITS[i])
        }
    }
}

fn separators(lang: Lang) -> (char, char) {
    match lang {
        Lang::En => (',', '.'),
        Lang::Nl => ('.', ','),
    }
}

fn group(digits: &str, sep: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// `1234567.8` -> `1,234,567.8` (en), `1.234.567,8` (nl).
pub fn number(lang: Lang, v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let (thousands, decimal) = separators(lang);
    let text = format!("{:.*}", decimals, v.abs());
    let (int_part, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let mut out = String::new();
    // "-0" after rounding is 0.
    if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    out.push_str(&group(int_part, thousands));
    if !frac.is_empty() {
        out.push(decimal);
        out.push_str(frac);
    }
    out
}

/// `1234567` -> `1,234,567` (en), `1.234.567` (nl).
pub fn int(lang: Lang, v: i128) -> String {
    let (thousands, _) = separators(lang);
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}", group(&digits, thousands))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_in_every_language() {
        let en = keys(Lang::En);
        assert!(en.len() > 20, "the catalogues are read: {en:?}");
        for lang in Lang::ALL {
            let other = keys(lang);
            let missing: Vec<_> = en.iter().filter(|k| !other.contains(k)).collect();
            let extra: Vec<_> = other.iter().filter(|k| !en.contains(k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{lang}: missing {missing:?}, not in en {extra:?}"
            );
            let mut dedup = other.clone();
            dedup.dedup();
            assert_eq!(dedup, other, "{lang}: a key defined twice");
        }
    }

    /// The web UI asks for its words as `t("ui-key", "English")`: every such key is in the
    /// catalogues with that English text (so the page reads the same before and after the
    /// catalogue arrives), and a variable reaches the page as `{$name}` in both languages.
    #[test]
    fn every_word_the_ui_asks_for_is_in_the_catalogues() {
        let ui = [include_str!("../ui/app.js"), include_str!("../ui/graph.js")].concat();
        let served: std::collections::BTreeMap<String, String> =
            messages_with_prefix(Lang::En, "ui-").into_iter().collect();
        let dutch: std::collections::BTreeMap<String, String> =
            messages_with_prefix(Lang::Nl, "ui-").into_iter().collect();
        let mut asked = 0;
        let mut rest = ui.as_str();
        while let Some(at) = rest.find("t(\"ui-") {
            rest = &rest[at + 3..];
            let Some((key, after)) = rest.split_once('"') else {
                break;
            };
            // Only literal English fallbacks are compared; computed keys are checked below.
            let Some(fallback) = after
                .strip_prefix(", \"")
                .and_then(|f| f.split_once("\"").map(|(f, _)| f))
            else {
                continue;
            };
            asked += 1;
            let english = served
                .get(key)
                .unwrap_or_else(|| panic!("app.js asks for {key}, which no catalogue has"));
            let normalise = |s: &str| s.replace("{ $", "{$").replace(" }", "}");
            assert_eq!(
                normalise(english),
                normalise(fallback),
                "{key}: the catalogue and the UI's English differ"
            );
            let placeholders = |s: &str| {
                let mut v: Vec<String> = s
                    .split("{$")
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(
                placeholders(english),
                placeholders(&dutch[key]),
                "{key}: the Dutch text fills in other variables"
            );
        }
        assert!(asked > 150, "the UI's words were found: {asked}");
        // Keys the UI computes from data: headline ids, columns, kinds, custody levels.
        for key in [
            "ui-headline-outside-eu",
            "ui-headline-not-read",
            "ui-store-col-replicated-outside-EU",
            "ui-change-gone",
            "ui-node-key-store",
            "ui-j-us-parent",
            "ui-custody-hyok",
        ] {
            assert!(served.contains_key(key), "{key} missing");
        }
    }

    #[test]
    fn every_catalogue_parses_and_every_message_formats() {
        for lang in Lang::ALL {
            for (file, text) in files(lang) {
                if let Err((_, errors)) = FluentResource::try_new((*text).to_owned()) {
                    panic!("{lang}/{file}: {errors:?}");
                }
            }
            for key in keys(lang) {
                let text = t(lang, &key);
                assert!(!text.trim().is_empty(), "{lang}: {key} is empty");
            }
        }
    }

    #[test]
    fn languages_parse_from_tags() {
        for (s, l) in [
            ("nl", Lang::Nl),
            ("NL", Lang::Nl),
            ("nl-NL", Lang::Nl),
            ("nl_BE", Lang::Nl),
            ("en", Lang::En),
            ("en-GB", Lang::En),
            ("en_US.UTF-8", Lang::En),
        ] {
            assert_eq!(s.parse::<Lang>(), Ok(l), "{s}");
        }
        let err = "de".parse::<Lang>().unwrap_err().to_string();
        assert!(err.contains("nl or en"), "{err}");
        assert!("".parse::<Lang>().is_err());
    }

    #[test]
    fn messages_take_arguments_and_differ_by_language() {
        let args = [("n", Arg::Count(1)), ("total", Arg::Text("1.234".into()))];
        let en = ta(Lang::En, "test-stores-of", &args);
        let nl = ta(Lang::Nl, "test-stores-of", &args);
        assert_eq!(en, "1 store of 1.234");
        assert_eq!(nl, "1 opslag van 1.234");
        let args = [("n", Arg::Count(3)), ("total", Arg::Text("9".into()))];
        assert_eq!(ta(Lang::En, "test-stores-of", &args), "3 stores of 9");
        assert_eq!(ta(Lang::Nl, "test-stores-of", &args), "3 opslagen van 9");
        assert_eq!(t(Lang::Nl, "no-such-key"), "no-such-key");
    }

    #[test]
    fn numbers_follow_the_language() {
        assert_eq!(number(Lang::Nl, 1_234_567.8, 1), "1.234.567,8");
        assert_eq!(number(Lang::En, 1_234_567.8, 1), "1,234,567.8");
        assert_eq!(number(Lang::En, 999.0, 0), "999");
        assert_eq!(number(Lang::Nl, -1234.5, 2), "-1.234,50");
        assert_eq!(number(Lang::En, -0.001, 1), "0.0");
        assert_eq!(int(Lang::Nl, 1_000), "1.000");
        assert_eq!(int(Lang::En, -12_345_678), "-12,345,678");
        let nl = Locale::new(Lang::Nl, DEFAULT_TIME_ZONE).expect("zone");
        let en = Locale::new(Lang::En, DEFAULT_TIME_ZONE).expect("zone");
        assert_eq!(nl.eur(1234.5), "€ 1.234,50");
        assert_eq!(en.eur(1234.5), "1,234.50 EUR");
        assert_eq!(nl.bytes(1_500_000), "1,5 MB");
        assert_eq!(en.bytes(1_500_000), "1.5 MB");
        assert_eq!(nl.bytes(999), "999 B");
        assert_eq!(nl.percent(0.5), "50%");
        assert_eq!(en.percent(0.5), "50 %");
    }

    #[test]
    fn times_are_in_amsterdam_unless_configured() {
        // 2026-12-06T19:50:00Z: winter, CET (UTC+1). 2026-07-01T10:00:00Z: summer, CEST.
        let winter = 1_796_586_600_000;
        let summer = 1_782_900_000_000;
        let nl = Locale::default();
        assert_eq!(nl.zone.iana_name(), Some(DEFAULT_TIME_ZONE));
        let nl = Locale {
            lang: Lang::Nl,
            ..nl
        };
        assert_eq!(nl.datetime(winter), "06-12-2026 20:50 CET");
        assert_eq!(nl.datetime(summer), "01-07-2026 12:00 CEST");
        let en = Locale::new(Lang::En, "Europe/Amsterdam").expect("zone");
        assert_eq!(en.datetime(winter), "2026-12-06 20:50 CET");
        assert_eq!(en.date(winter), "2026-12-06");
        let utc = Locale::new(Lang::En, "UTC").expect("zone");
        assert_eq!(utc.datetime(winter), "2026-12-06 19:50 UTC");
        let err = Locale::new(Lang::En, "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
