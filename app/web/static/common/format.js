// Amounts travel as strings of integer base units (rao, alpha-rao: 9 decimals). Text is made
// from them exactly (BigInt); only charts use Numbers.

export const DECIMALS = 9;

/** "1500000000" -> "1.5" (exact; trailing zeros trimmed, at most `maxFraction` decimals). */
export function units(value, { decimals = DECIMALS, maxFraction = decimals, minFraction = 0 } = {}) {
  if (value === null || value === undefined || value === "") return "–";
  let n = BigInt(value);
  const negative = n < 0n;
  if (negative) n = -n;
  const base = 10n ** BigInt(decimals);
  let whole = n / base;
  let fraction = (n % base).toString().padStart(decimals, "0");
  if (maxFraction < decimals) {
    // Round half up at maxFraction digits.
    const keep = fraction.slice(0, maxFraction);
    const rest = fraction.slice(maxFraction);
    let kept = BigInt(keep || "0");
    if (rest && Number(rest[0]) >= 5) kept += 1n;
    if (maxFraction > 0 && kept >= 10n ** BigInt(maxFraction)) {
      whole += 1n;
      kept = 0n;
    } else if (maxFraction === 0 && kept > 0n) {
      whole += 1n;
      kept = 0n;
    }
    fraction = maxFraction > 0 ? kept.toString().padStart(maxFraction, "0") : "";
  }
  fraction = fraction.replace(/0+$/, "");
  while (fraction.length < minFraction) fraction += "0";
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (negative ? "-" : "") + grouped + (fraction ? "." + fraction : "");
}

/** A decimal typed by a person ("1.5") -> base units ("1500000000"); throws on bad input. */
export function parseUnits(text, decimals = DECIMALS) {
  const s = String(text).trim();
  const m = /^([0-9]+)(?:\.([0-9]*))?$/.exec(s);
  if (!m) throw new Error(`not a decimal number: "${s}"`);
  const fraction = m[2] || "";
  if (fraction.length > decimals) throw new Error(`at most ${decimals} decimals: "${s}"`);
  const value = BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
  return value.toString();
}

/** Base units -> Number, for charts only. */
export function toNumber(value, decimals = DECIMALS) {
  if (value === null || value === undefined) return NaN;
  return Number(value) / 10 ** decimals;
}

/** Decimals needed to show a price on a tick of `tick` rao per alpha. */
export function tickDecimals(tick) {
  let t = BigInt(tick || 1);
  let zeros = 0;
  while (t % 10n === 0n && zeros < DECIMALS) {
    t /= 10n;
    zeros += 1;
  }
  return DECIMALS - zeros;
}

export function percentFromBps(bps) {
  if (bps === null || bps === undefined) return "–";
  const sign = bps > 0 ? "+" : "";
  return `${sign}${(bps / 100).toFixed(2)}%`;
}

export function time(value) {
  if (!value) return "–";
  const d = typeof value === "number" ? new Date(value) : new Date(value);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function clockTime(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

/** "SN1/TAO" -> "SN1-TAO" (a '/' cannot travel in a path segment). */
export function pathSymbol(symbol) {
  return symbol.replace("/", "-");
}
