// The UI's words and formats. The words come from the collector's Fluent catalogues
// (collector/locales/*/ui.ftl), served as JSON by `/ui/locales/<lang>.json`; a message with
// variables arrives with `{$name}` in place of each, filled in here. Numbers, dates and times
// follow the chosen language, times in the collector's time zone (Europe/Amsterdam unless
// configured otherwise).

let messages = {};
let language = "en";
let zone = "Europe/Amsterdam";

/** Takes a catalogue as `/ui/locales/<lang>.json` serves it. */
export function setCatalogue(cat) {
  messages = cat.messages || {};
  language = cat.lang || "en";
  zone = cat.time_zone || zone;
}

export function lang() {
  return language;
}

/** The message `key` in the chosen language, else the English `fallback`; `{$name}` (or
 * `{ $name }`) is replaced by `args[name]`. */
export function t(key, fallback, args) {
  const text = messages[key] || fallback;
  if (!args) return text;
  return text.replace(/\{\s*\$([A-Za-z0-9_-]+)\s*\}/g, (m, name) => (name in args ? String(args[name]) : m));
}

const tag = () => (language === "nl" ? "nl-NL" : "en-GB");

/** A number in the language's format (`1.234,5` in Dutch, `1,234.5` in English). */
export function number(x, digits = 0) {
  return new Intl.NumberFormat(tag(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(Number(x));
}

/** A count: grouped digits, no decimals. */
export function int(x) {
  return number(x, 0);
}

/** An amount of euro (or another currency code) with two decimals. */
export function money(x, currency = "EUR") {
  try {
    return new Intl.NumberFormat(tag(), { style: "currency", currency: currency || "EUR" }).format(Number(x));
  } catch {
    return `${number(x, 2)} ${currency || ""}`.trim();
  }
}

/** Bytes in decimal units, in the language's number format. */
export function bytesText(b) {
  let v = Number(b), i = 0;
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? int(v) : number(v, v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Date and time of Unix ms in the collector's zone, with the zone's abbreviation. */
export function dateTime(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  try {
    return new Intl.DateTimeFormat(tag(), {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    }).format(d);
  } catch {
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }
}

/** The day of Unix ms in the collector's zone, as `YYYY-MM-DD` (a date input's value). */
export function isoDay(ms) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(Number(ms)));
  return parts;
}

/** Unix ms of midnight at the start of `day` (`YYYY-MM-DD`) in the collector's zone. */
export function startOfDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  const utc = Date.UTC(y, m - 1, d);
  // The zone's offset at that moment: format it there and read back the difference.
  const shown = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  }).formatToParts(new Date(utc));
  const get = (type) => Number(shown.find((p) => p.type === type).value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
  return utc - (asUtc - utc);
}
