// Markets and their state changes (halt, cancel-only, post-only, resume, delist), each
// after a confirmation, with a reason for the audit log.

import { clear, h, table } from "../../common/dom.js";
import { pathSymbol, units } from "../../common/format.js";
import { getJSON } from "../../common/http.js";
import { busy, confirmDialog } from "../ui.js";

// The API's table of allowed transitions (app/markets/rules.py); it refuses any other.
const TRANSITIONS = {
  trading: ["post_only", "cancel_only", "halted", "delisted"],
  post_only: ["trading", "cancel_only", "halted", "delisted"],
  cancel_only: ["trading", "post_only", "halted", "delisted"],
  halted: ["trading", "post_only", "cancel_only", "delisted"],
  delisted: [],
};
const ACTIONS = [
  { state: "halted", label: "Halt", text: "refuses every order and cancel" },
  { state: "cancel_only", label: "Cancel-only", text: "accepts only cancels" },
  { state: "post_only", label: "Post-only", text: "refuses orders that would take" },
  { state: "trading", label: "Resume", text: "trades normally" },
  { state: "delisted", label: "Delist", text: "cancels every open order and releases its funds; final", danger: true },
];

export async function render(view, ctx) {
  const markets = await getJSON("v1/markets", null, { fresh: true });
  const columns = [
    { title: "Market", cell: (m) => m.symbol },
    { title: "State", cell: (m) => h("span", { class: `badge ${m.state === "trading" ? "ok" : m.state === "delisted" ? "bad" : "warn"}`, dataset: { state: m.state } }, m.state) },
    { title: "Tick (TAO)", class: "num", cell: (m) => units(m.tick_size) },
    { title: "Lot", class: "num", cell: (m) => units(m.lot_size) },
    { title: "Min size", class: "num", cell: (m) => units(m.min_size) },
    { title: "Min notional (TAO)", class: "num", cell: (m) => units(m.min_notional) },
    { title: "Fees maker/taker", class: "num", cell: (m) => `${m.maker_fee_bps}/${m.taker_fee_bps} bps` },
    { title: "Band", class: "num", cell: (m) => `${m.price_band_bps} bps` },
    { title: "Pool price (TAO)", class: "num", cell: (m) => units(m.reference_price, { maxFraction: 6 }) },
    { title: "Change state", cell: (m) => buttons(m, ctx) },
  ];
  clear(
    view,
    h("div", { class: "page-head" }, h("h1", {}, "Markets"), h("span", { class: "muted" }, "Sizes in alpha; every change is confirmed and audited.")),
    h("div", { class: "panel", id: "markets" }, table(columns, markets, { empty: "no markets: approve a listing first", rowAttrs: (m) => ({ dataset: { symbol: m.symbol } }) })),
  );
}

function buttons(market, ctx) {
  const allowed = TRANSITIONS[market.state] || [];
  return ACTIONS.filter((a) => allowed.includes(a.state)).map((a) => {
    const button = h("button", { class: a.danger ? "danger" : "", dataset: { action: a.state } }, a.label);
    button.addEventListener("click", async () => {
      const values = await confirmDialog({
        title: `${a.label} ${market.symbol}?`,
        message: `${market.symbol} goes from ${market.state} to ${a.state}: it ${a.text}.`,
        fields: [{ name: "reason", label: a.danger ? "Reason" : "Reason (optional)", required: a.danger, maxlength: 1000 }],
        confirmText: a.label,
        danger: Boolean(a.danger) || a.state === "halted",
      });
      if (!values) return;
      await busy(button, async () => {
        const result = await ctx.api.post(`v1/admin/markets/${pathSymbol(market.symbol)}/state`, { state: a.state, reason: values.reason });
        ctx.navigate("#/markets", `${result.symbol} is ${result.state}`);
      });
    });
    return button;
  });
}
