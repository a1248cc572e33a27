// The market page: the list of markets (price, 24 h change, volume), and for the selected
// one a candlestick chart, the depth chart, the book, recent trades and the on-chain pool
// price beside the book's. History comes from the REST API once; everything after that
// arrives on the WebSocket feed (book, trades, candles, ticker), without reloading.

import {
  AreaSeries,
  CandlestickSeries,
  HistogramSeries,
  createChart,
  createOptionsChart,
} from "../vendor/lightweight-charts.standalone.production.mjs";
import { COLORS, baseOptions, priceFormat } from "../common/charts.js";
import { $, clear, h, table } from "../common/dom.js";
import { clockTime, percentFromBps, pathSymbol, tickDecimals, toNumber, units } from "../common/format.js";
import { errorText, getJSON } from "../common/http.js";
import { Feed } from "./feed.js";

const INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"];
const BOOK_LEVELS = 12;
const MAX_TRADES = 40;
const POOL_REFRESH_MS = 12000; // a block
const MARKETS_REFRESH_MS = 30000;

const state = {
  markets: new Map(), // symbol -> market
  tickers: new Map(), // symbol -> ticker
  selected: null, // the selected market
  subnet: null, // the selected market's subnet (v1/subnets/{netuid})
  interval: "1m",
  unsubscribe: [], // the selected market's feed subscriptions
  book: { bids: new Map(), asks: new Map() },
  trades: [],
  candles: new Map(), // start (s) -> candle (the loaded range)
  candlesReady: false,
  pending: [], // candle messages that arrived before the history
};

const status = $("#feed-status");
const feed = new Feed({
  onstatus(s) {
    status.dataset.state = s;
    status.textContent = s === "live" ? "live" : s === "connecting" ? "connecting…" : "reconnecting…";
  },
});

// ---------------------------------------------------------------------------- the list

function renderMarkets() {
  const rows = [...state.markets.values()].filter((m) => m.state !== "delisted");
  const columns = [
    { title: "Market", cell: (m) => h("span", {}, m.symbol, m.state !== "trading" ? h("span", { class: "badge warn" }, m.state.replace("_", " ")) : null) },
    { title: "Price", class: "num", cell: (m) => price(m, state.tickers.get(m.symbol)?.last_price) },
    { title: "24 h", class: "num", cell: (m) => change(state.tickers.get(m.symbol)) },
    { title: "Vol (TAO)", class: "num", cell: (m) => units(state.tickers.get(m.symbol)?.quote_volume_24h ?? "0", { maxFraction: 2 }) },
  ];
  const el = table(columns, rows, {
    empty: "no markets",
    onrow: (m) => (location.hash = pathSymbol(m.symbol)),
    rowAttrs: (m) => ({ dataset: { symbol: m.symbol }, class: state.selected?.symbol === m.symbol ? "selected" : "" }),
  });
  clear($("#markets"), el);
}

function change(ticker) {
  if (!ticker || ticker.change_bps_24h === null || ticker.change_bps_24h === undefined) return h("span", { class: "muted" }, "–");
  const bps = ticker.change_bps_24h;
  return h("span", { class: bps > 0 ? "up" : bps < 0 ? "down" : "" }, percentFromBps(bps));
}

function price(market, value) {
  if (value === null || value === undefined) return "–";
  return units(value, { minFraction: 2, maxFraction: tickDecimals(market.tick_size) });
}

async function loadMarkets() {
  const [markets, tickers] = await Promise.all([getJSON("v1/markets"), getJSON("v1/tickers")]);
  for (const m of markets) {
    const known = state.markets.has(m.symbol);
    state.markets.set(m.symbol, m);
    if (!known && m.state !== "delisted") {
      feed.subscribe("ticker", m.symbol, (msg) => onTicker(msg.data));
    }
  }
  for (const t of tickers) state.tickers.set(t.symbol, t);
  renderMarkets();
}

function onTicker(ticker) {
  state.tickers.set(ticker.symbol, ticker);
  renderMarkets();
  if (state.selected?.symbol === ticker.symbol) renderHead();
}

// ---------------------------------------------------------------------------- one market

let candleChart, candleSeries, volumeSeries, depthChart, bidSeries, askSeries;

function charts(market) {
  const decimals = tickDecimals(market.tick_size);
  if (!candleChart) {
    candleChart = createChart($("#candles"), baseOptions());
    candleSeries = candleChart.addSeries(CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, borderVisible: false,
      wickUpColor: COLORS.up, wickDownColor: COLORS.down,
    });
    volumeSeries = candleChart.addSeries(HistogramSeries, { priceScaleId: "", priceFormat: { type: "volume" }, color: "#30363d" });
    volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    candleChart.subscribeCrosshairMove((param) => {
      const bar = param.time !== undefined ? state.candles.get(param.time) : null;
      legend(bar || latestCandle());
    });
    depthChart = createOptionsChart($("#depth"), baseOptions({ timeScale: { borderColor: COLORS.grid } }));
    const area = { lineWidth: 2, lineType: 1 /* steps */, priceFormat: { type: "volume" } };
    bidSeries = depthChart.addSeries(AreaSeries, { ...area, lineColor: COLORS.up, topColor: "rgba(38,166,154,.4)", bottomColor: "rgba(38,166,154,.05)" });
    askSeries = depthChart.addSeries(AreaSeries, { ...area, lineColor: COLORS.down, topColor: "rgba(239,83,80,.4)", bottomColor: "rgba(239,83,80,.05)" });
  }
  candleSeries.applyOptions({ priceFormat: priceFormat(decimals) });
  depthChart.applyOptions({ localization: { precision: decimals, priceFormatter: (v) => v.toFixed(2) } });
}

async function select(symbol) {
  const market = state.markets.get(symbol);
  if (!market) return;
  for (const off of state.unsubscribe) off();
  state.unsubscribe = [];
  state.selected = market;
  state.subnet = null;
  state.book = { bids: new Map(), asks: new Map() };
  state.trades = [];
  $("#market-empty").hidden = true;
  $("#market-view").hidden = false;
  charts(market);
  renderMarkets();
  renderHead();
  renderBook();
  renderTrades();
  // Subscribe first, then read the history: nothing falls between the two.
  state.unsubscribe.push(feed.subscribe("book", symbol, onBook));
  state.unsubscribe.push(feed.subscribe("trades", symbol, (msg) => addTrades(msg.data.map(wsTrade))));
  await Promise.all([loadCandles(), loadTrades(), refreshTicker()]);
}

async function refreshTicker() {
  const market = state.selected;
  if (!market) return;
  const [ticker, subnet] = await Promise.all([
    getJSON(`v1/markets/${pathSymbol(market.symbol)}/ticker`),
    getJSON(`v1/subnets/${market.netuid}`).catch(() => null),
  ]);
  state.tickers.set(ticker.symbol, ticker);
  if (state.selected === market) {
    state.subnet = subnet;
    renderHead();
  }
}

// The subnet as the chain has it (the indexer's figures): market cap, the pool's 24 h change,
// the next epoch, the root proportion.
function renderSubnet() {
  const s = state.subnet;
  $("#subnet-cap").textContent = s ? `${units(s.market_cap, { maxFraction: 0 })} TAO cap` : "–";
  const facts = [];
  if (s) {
    const day = s.price_change?.["24h"];
    if (day !== null && day !== undefined) facts.push(`pool ${Number(day) >= 0 ? "+" : ""}${(Number(day) * 100).toFixed(2)}% 24 h`);
    if (s.blocks_to_next_epoch !== null) facts.push(`epoch in ${s.blocks_to_next_epoch} blocks`);
    if (s.root_proportion !== null) facts.push(`root ${(Number(s.root_proportion) * 100).toFixed(1)}%`);
  }
  const el = $("#subnet-facts");
  el.textContent = facts.join(" · ");
  el.dataset.epochIn = s && s.blocks_to_next_epoch !== null ? String(s.blocks_to_next_epoch) : "";
}

function renderHead() {
  const market = state.selected;
  const ticker = state.tickers.get(market.symbol) || {};
  const fmt = (v) => price(market, v);
  $("#market-symbol").textContent = market.symbol;
  const badge = $("#market-state");
  badge.textContent = market.state.replace("_", " ");
  badge.className = `badge ${market.state === "trading" ? "ok" : "warn"}`;
  $("#last-price").textContent = fmt(ticker.last_price);
  clear($("#last-change"), change(ticker));
  const bid = best(state.book.bids, true);
  const ask = best(state.book.asks, false);
  const mid = bid !== null && ask !== null ? (bid + ask) / 2n : bid ?? ask;
  const bookEl = $("#book-price");
  bookEl.textContent = mid === null ? "no orders" : fmt(mid.toString());
  bookEl.dataset.mid = mid === null ? "" : mid.toString();
  $("#book-spread").textContent = bid !== null && ask !== null ? `spread ${fmt((ask - bid).toString())}` : "";
  const poolEl = $("#pool-price");
  poolEl.textContent = ticker.pool_price ? fmt(ticker.pool_price) : "–";
  poolEl.dataset.price = ticker.pool_price || "";
  let diff = ticker.pool_block !== undefined ? `block ${ticker.pool_block}` : "";
  if (mid !== null && ticker.pool_price && BigInt(ticker.pool_price) > 0n) {
    const pool = BigInt(ticker.pool_price);
    const ppm = Number(((mid - pool) * 1000000n) / pool); // parts per million
    diff = `book ${ppm >= 0 ? "+" : ""}${(ppm / 10000).toFixed(3)}% vs pool · ${diff}`;
  }
  $("#pool-diff").textContent = diff;
  $("#volume").textContent = `${units(ticker.volume_24h ?? "0", { maxFraction: 3 })} ${market.base}`;
  const trades = ticker.trades_24h ?? 0;
  $("#trades-24h").textContent = `${trades} trade${trades === 1 ? "" : "s"} · ${units(ticker.quote_volume_24h ?? "0", { maxFraction: 3 })} TAO`;
  renderSubnet();
}

// ---------------------------------------------------------------------------- book and depth

function best(side, highest) {
  let out = null;
  for (const p of side.keys()) if (out === null || (highest ? p > out : p < out)) out = p;
  return out;
}

function onBook(msg) {
  if (msg.type === "snapshot") state.book = { bids: new Map(), asks: new Map() };
  for (const side of ["bids", "asks"]) {
    for (const [p, qty, orders] of msg[side]) {
      const key = BigInt(p);
      if (qty === "0") state.book[side].delete(key);
      else state.book[side].set(key, { qty: BigInt(qty), orders });
    }
  }
  const el = $("#book");
  el.dataset.sequence = msg.sequence;
  renderBook();
  renderHead();
}

function levels(side, descending) {
  return [...state.book[side].entries()].sort((a, b) => (descending ? (a[0] < b[0] ? 1 : -1) : a[0] < b[0] ? -1 : 1));
}

function renderBook() {
  const market = state.selected;
  const asks = levels("asks", false).slice(0, BOOK_LEVELS);
  const bids = levels("bids", true).slice(0, BOOK_LEVELS);
  const cumulate = (rows) => {
    let total = 0n;
    return rows.map(([p, l]) => ({ price: p, qty: l.qty, orders: l.orders, total: (total += l.qty) }));
  };
  const askRows = cumulate(asks).reverse();
  const bidRows = cumulate(bids);
  const biggest = [...askRows, ...bidRows].reduce((m, r) => (r.total > m ? r.total : m), 1n);
  const row = (r, kind) => {
    const bar = h("div", { class: "bar" });
    bar.style.width = `${Number((r.total * 100n) / biggest)}%`;
    return h(
      "tr",
      { class: `level ${kind}`, dataset: { price: r.price.toString(), qty: r.qty.toString() } },
      h("td", { class: `num ${kind === "ask" ? "down" : "up"}` }, price(market, r.price.toString())),
      h("td", { class: "num" }, units(r.qty.toString(), { maxFraction: 4 })),
      h("td", { class: "num level" }, bar, units(r.total.toString(), { maxFraction: 4 })),
    );
  };
  const bid = bids.length ? bids[0][0] : null;
  const ask = asks.length ? asks[0][0] : null;
  const spread = bid !== null && ask !== null ? `spread ${price(market, (ask - bid).toString())}` : "—";
  const body = h(
    "tbody",
    {},
    askRows.map((r) => row(r, "ask")),
    h("tr", { class: "spread" }, h("td", { colspan: 3 }, spread)),
    bidRows.map((r) => row(r, "bid")),
  );
  const head = h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Price (TAO)"), h("th", { class: "num" }, `Size (${market.base})`), h("th", { class: "num" }, "Total")));
  clear($("#book"), h("table", {}, head, body));
  renderDepth();
}

function renderDepth() {
  // Cumulative size from the best price outwards; the horizontal axis is the price.
  const bids = levels("bids", true);
  const asks = levels("asks", false);
  let total = 0n;
  const bidPoints = bids.map(([p, l]) => ({ time: toNumber(p.toString()), value: toNumber((total += l.qty).toString()) })).reverse();
  total = 0n;
  const askPoints = asks.map(([p, l]) => ({ time: toNumber(p.toString()), value: toNumber((total += l.qty).toString()) }));
  bidSeries.setData(dedupe(bidPoints));
  askSeries.setData(dedupe(askPoints));
  depthChart.timeScale().fitContent();
}

function dedupe(points) {
  // Prices closer than a Number can tell apart would break the chart's ordering.
  return points.filter((p, i) => i === 0 || p.time > points[i - 1].time);
}

// ---------------------------------------------------------------------------- trades

function wsTrade(t) {
  return { match_id: t.match_id, price: t.price, qty: t.qty, taker_side: t.taker_side, ms: Math.floor(t.ts / 1e6) };
}

async function loadTrades() {
  const market = state.selected;
  const body = await getJSON(`v1/markets/${pathSymbol(market.symbol)}/trades`, { limit: MAX_TRADES });
  if (state.selected !== market) return;
  addTrades(body.trades.map((t) => ({ match_id: t.match_id, price: t.price, qty: t.qty, taker_side: t.taker_side, ms: Date.parse(t.time) })));
}

function addTrades(trades) {
  const seen = new Set(state.trades.map((t) => t.match_id));
  const fresh = trades.filter((t) => !seen.has(t.match_id));
  state.trades = [...state.trades, ...fresh].sort((a, b) => b.match_id - a.match_id).slice(0, MAX_TRADES);
  renderTrades();
}

function renderTrades() {
  const market = state.selected;
  const columns = [
    { title: "Time (UTC)", cell: (t) => clockTime(t.ms) },
    { title: "Price (TAO)", class: "num", cell: (t) => h("span", { class: t.taker_side === "buy" ? "up" : "down" }, price(market, t.price)) },
    { title: `Size (${market.base})`, class: "num", cell: (t) => units(t.qty, { maxFraction: 4 }) },
  ];
  clear($("#trades"), table(columns, state.trades, { empty: "no trades yet", rowAttrs: (t) => ({ dataset: { matchId: t.match_id, price: t.price, qty: t.qty } }) }));
}

// ---------------------------------------------------------------------------- candles

function renderIntervals() {
  clear(
    $("#intervals"),
    INTERVALS.map((i) =>
      h("button", { class: i === state.interval ? "active" : "", dataset: { interval: i }, onclick: () => chooseInterval(i) }, i),
    ),
  );
}

function chooseInterval(interval) {
  state.interval = interval;
  renderIntervals();
  loadCandles();
}

let candleUnsubscribe = null;

async function loadCandles() {
  const market = state.selected;
  const interval = state.interval;
  if (candleUnsubscribe) candleUnsubscribe();
  state.candles = new Map();
  state.candlesReady = false;
  state.pending = [];
  candleUnsubscribe = feed.subscribe(`candles:${interval}`, market.symbol, (msg) => {
    if (state.candlesReady) onCandle(msg.data);
    else state.pending.push(msg.data);
  });
  const body = await getJSON(`v1/markets/${pathSymbol(market.symbol)}/candles`, { interval });
  if (state.selected !== market || state.interval !== interval) return;
  for (const c of body.candles) state.candles.set(Date.parse(c.start) / 1000, c);
  candleSeries.setData([...state.candles.entries()].map(([t, c]) => bar(t, c)));
  volumeSeries.setData([...state.candles.entries()].map(([t, c]) => volumeBar(t, c)));
  state.candlesReady = true;
  for (const c of state.pending) onCandle(c);
  state.pending = [];
  candleChart.timeScale().fitContent();
  legend(latestCandle());
}

function onCandle(c) {
  const t = Date.parse(c.start) / 1000;
  const last = latestCandle();
  if (last && Date.parse(last.start) / 1000 > t) return; // older than what is drawn
  state.candles.set(t, c);
  candleSeries.update(bar(t, c));
  volumeSeries.update(volumeBar(t, c));
  legend(c);
}

function bar(t, c) {
  return { time: t, open: toNumber(c.open), high: toNumber(c.high), low: toNumber(c.low), close: toNumber(c.close) };
}

function volumeBar(t, c) {
  return { time: t, value: toNumber(c.volume), color: BigInt(c.close) >= BigInt(c.open) ? "rgba(38,166,154,.5)" : "rgba(239,83,80,.5)" };
}

function latestCandle() {
  let out = null;
  for (const [t, c] of state.candles) if (!out || t > out[0]) out = [t, c];
  return out ? out[1] : null;
}

function legend(c) {
  const el = $("#candle-legend");
  if (!c) {
    el.textContent = "no trades in this range";
    el.dataset.close = "";
    return;
  }
  const p = (v) => price(state.selected, v);
  el.textContent = `${state.interval} ${c.start.slice(0, 16).replace("T", " ")}  O ${p(c.open)}  H ${p(c.high)}  L ${p(c.low)}  C ${p(c.close)}  V ${units(c.volume, { maxFraction: 4 })}`;
  el.dataset.start = c.start;
  el.dataset.close = c.close;
  el.dataset.trades = c.trades;
}

// ---------------------------------------------------------------------------- start

function fromHash() {
  const wanted = decodeURIComponent(location.hash.slice(1)).replace("-", "/").toUpperCase();
  if (state.markets.has(wanted)) return wanted;
  const first = [...state.markets.values()].find((m) => m.state === "trading") || [...state.markets.values()].find((m) => m.state !== "delisted");
  return first ? first.symbol : null;
}

async function start() {
  renderIntervals();
  try {
    await loadMarkets();
  } catch (err) {
    clear($("#markets"), h("div", { class: "error" }, errorText(err)));
    return;
  }
  const symbol = fromHash();
  if (symbol) await select(symbol);
  window.addEventListener("hashchange", () => {
    const next = fromHash();
    if (next && next !== state.selected?.symbol) select(next);
  });
  setInterval(() => refreshTicker().catch(() => {}), POOL_REFRESH_MS);
  setInterval(async () => {
    try {
      await loadMarkets();
      if (state.selected) {
        state.selected = state.markets.get(state.selected.symbol) || state.selected;
        renderHead();
      } else {
        const first = fromHash();
        if (first) await select(first);
      }
    } catch {
      /* the next round tries again */
    }
  }, MARKETS_REFRESH_MS);
}

start();
