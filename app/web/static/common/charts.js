// Chart options shared by the pages (TradingView Lightweight Charts, vendored).
// The library's attribution logo injects an inline <style>, which the pages' CSP refuses:
// it is off, and the pages credit TradingView in their footer instead.

export const COLORS = {
  up: "#26a69a",
  down: "#ef5350",
  text: "#c9d1d9",
  grid: "#21262d",
  line: "#58a6ff",
  muted: "#8b949e",
};

export function baseOptions(extra = {}) {
  return {
    autoSize: true,
    layout: {
      attributionLogo: false,
      background: { type: "solid", color: "transparent" },
      textColor: COLORS.text,
      fontFamily: "system-ui, sans-serif",
    },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    rightPriceScale: { borderColor: COLORS.grid },
    timeScale: { borderColor: COLORS.grid, timeVisible: true, secondsVisible: false },
    ...extra,
  };
}

export function priceFormat(decimals) {
  return { type: "price", precision: decimals, minMove: 1 / 10 ** decimals };
}
