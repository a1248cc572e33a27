// Listing candidates and their due diligence; approve (ticker and market parameters),
// reject, reconsider.

import { LineSeries, createChart } from "../../vendor/lightweight-charts.standalone.production.mjs";
import { COLORS, baseOptions, priceFormat } from "../../common/charts.js";
import { clear, h, table } from "../../common/dom.js";
import { time, toNumber, units } from "../../common/format.js";
import { getJSON } from "../../common/http.js";
import { busy, confirmDialog, field, formValues, showError } from "../ui.js";

const STATES = ["candidate", "approved", "rejected"];
const FLAG_TEXT = {
  too_young: "younger than the listing policy's minimum age",
  pool_too_shallow: "pool shallower than the listing policy's minimum",
};
let shown = "candidate";

export async function render(view, ctx) {
  const id = ctx.params[0];
  if (id) return detail(view, ctx, id);
  return list(view, ctx);
}

async function list(view, ctx) {
  const rows = await ctx.api.get("v1/admin/listings", { state: shown });
  const tabs = h(
    "div",
    { class: "tabs" },
    STATES.map((s) =>
      h("button", { class: s === shown ? "active" : "", dataset: { state: s }, onclick: () => ((shown = s), ctx.navigate("#/listings")) }, s),
    ),
  );
  const columns = [
    { title: "Netuid", class: "num", cell: (l) => l.netuid },
    { title: "Name", cell: (l) => l.subnet.name || h("span", { class: "muted" }, "(none)") },
    { title: "Symbol", cell: (l) => l.subnet.symbol },
    { title: "Age", class: "num", cell: (l) => `${l.due_diligence.age_days.toFixed(1)} d` },
    { title: "Pool (TAO)", class: "num", cell: (l) => units(l.due_diligence.pool_tao, { maxFraction: 2 }) },
    { title: "Price (TAO)", class: "num", cell: (l) => units(l.due_diligence.price, { maxFraction: 6 }) },
    { title: "Flags", cell: (l) => flags(l.due_diligence.flags) },
    { title: "Market", cell: (l) => (l.market ? `${l.market.symbol} (${l.market.state})` : "") },
  ];
  clear(
    view,
    h("div", { class: "page-head" }, h("h1", {}, "Listings"), tabs),
    h("div", { class: "panel", id: "listings" }, table(columns, rows, {
      empty: `no ${shown} listings`,
      onrow: (l) => ctx.navigate(`#/listings/${l.id}`),
      rowAttrs: (l) => ({ dataset: { netuid: l.netuid, id: l.id } }),
    })),
  );
}

function flags(list) {
  if (!list.length) return h("span", { class: "badge ok" }, "eligible");
  return list.map((f) => h("span", { class: "badge warn", title: FLAG_TEXT[f] || f }, f));
}

function fact(label, value, attrs = {}) {
  return h("div", { class: "fact", ...attrs }, h("span", { class: "label" }, label), h("span", { class: "value" }, value));
}

async function detail(view, ctx, id) {
  const l = await ctx.api.get(`v1/admin/listings/${encodeURIComponent(id)}`);
  const dd = l.due_diligence;
  const s = l.subnet;
  const identity = s.identity || {};
  const facts = h(
    "div",
    { class: "grid", id: "due-diligence" },
    fact("Age", `${dd.age_blocks.toLocaleString()} blocks (${dd.age_days.toFixed(2)} days)`, { dataset: { fact: "age" } }),
    fact("Pool depth", `${units(dd.pool_tao, { maxFraction: 4 })} TAO · ${units(s.alpha_in, { maxFraction: 4 })} alpha`, { dataset: { fact: "pool" } }),
    fact("Price", `${units(dd.price)} TAO per alpha`, { dataset: { fact: "price" } }),
    fact("Moving price (EMA)", `${dd.moving_price.replace(/(\.\d{9})\d+$/, "$1")} TAO per alpha`),
    fact("24 h volume", `${units(dd.volume_24h, { maxFraction: 4 })} TAO${dd.volume_24h_partial ? " (history under 24 h)" : ""}`),
    fact("Registered at block", s.registered_at_block),
    fact("Owner coldkey", h("span", { class: "mono" }, dd.owner_coldkey), { dataset: { fact: "owner" } }),
    fact("Owner hotkey", h("span", { class: "mono" }, s.owner_hotkey)),
    fact("Tempo", `${s.tempo} blocks`),
    fact("Fee rate", `${s.fee_rate} / 65535`),
    fact("Eligibility", flags(dd.flags), { dataset: { fact: "flags" } }),
    fact("State", l.state + (l.reason ? ` — ${l.reason}` : "")),
  );
  const identityTable = table(
    [
      { title: "Identity field", cell: (r) => r[0] },
      { title: "Value", class: "wrap", cell: (r) => (r[1] ? r[1] : h("span", { class: "badge warn" }, "missing")) },
    ],
    [...dd.identity_present, ...dd.identity_missing].map((k) => [k, identity[k] || ""]),
  );
  const chartBox = h("div", { class: "chart", id: "price-history" });
  const ranges = h("div", { class: "tabs" });
  const note = h("div", { class: "hint", id: "history-note" });
  clear(
    view,
    h(
      "div",
      { class: "page-head" },
      h("a", { href: "#/listings" }, "← Listings"),
      h("h1", {}, `SN${l.netuid} · ${s.name || "(no name)"} `, h("span", { class: "badge", id: "listing-state" }, l.state)),
    ),
    h("div", { class: "panel" }, h("h3", {}, "Due diligence"), facts),
    h(
      "div",
      { class: "sections" },
      h("div", { class: "panel" }, h("div", { class: "page-head" }, h("h3", {}, "Pool price history"), ranges), chartBox, note),
      h("div", { class: "panel" }, h("h3", {}, "Identity (on chain)"), identityTable),
    ),
    h("div", { class: "panel", id: "listing-actions" }, actions(l, ctx)),
  );
  history(chartBox, ranges, note, l.netuid);
}

// Ranges in chain time: the newest points (history is newest first, stamped with the blocks'
// own times), so a chain whose clock differs from this browser's still charts.
const RANGES = [
  { label: "6 h", limit: 6 * 300, resolution: "raw" },
  { label: "7 d", limit: 24 * 7, resolution: "1h" },
  { label: "90 d", limit: 90, resolution: "1d" },
];

function history(box, ranges, note, netuid) {
  const chart = createChart(box, baseOptions());
  const price = chart.addSeries(LineSeries, { color: COLORS.line, lineWidth: 2, title: "price", priceFormat: priceFormat(6) });
  const moving = chart.addSeries(LineSeries, { color: COLORS.muted, lineWidth: 1, lineStyle: 2, title: "EMA", priceFormat: priceFormat(6) });
  const load = async (range) => {
    clear(ranges, RANGES.map((r) => h("button", { class: r === range ? "active" : "", onclick: () => load(r) }, r.label)));
    try {
      const body = await getJSON(`v1/subnets/${netuid}/history`, { limit: range.limit, resolution: range.resolution }, { fresh: true });
      const oldestFirst = [...body.points].reverse();
      const points = [];
      for (const p of oldestFirst) {
        const t = Math.floor(Date.parse(p.time) / 1000);
        if (points.length && t <= points[points.length - 1].time) continue; // one point a second
        points.push({ time: t, value: toNumber(p.price), moving: Number(p.moving_price) });
      }
      price.setData(points.map((p) => ({ time: p.time, value: p.value })));
      moving.setData(points.map((p) => ({ time: p.time, value: p.moving })));
      chart.timeScale().fitContent();
      box.dataset.points = points.length;
      note.textContent = points.length ? `${points.length} indexed points, TAO per alpha (EMA dashed), from ${time(oldestFirst[0].time)}` : "no indexed history in this range";
    } catch (err) {
      showError(err);
    }
  };
  load(RANGES[0]);
}

function actions(l, ctx) {
  if (l.state === "candidate") return approveForm(l, ctx);
  if (l.state === "rejected") {
    const button = h("button", { id: "reconsider" }, "Reconsider");
    button.addEventListener("click", async () => {
      const values = await confirmDialog({
        title: `Reconsider SN${l.netuid}?`,
        message: "It becomes a candidate again.",
        fields: [{ name: "reason", label: "Reason (optional)", maxlength: 1000 }],
        confirmText: "Reconsider",
      });
      if (!values) return;
      await busy(button, async () => {
        await ctx.api.post(`v1/admin/listings/${l.id}/reconsider`, { reason: values.reason });
        ctx.navigate(`#/listings/${l.id}`, `SN${l.netuid} is a candidate again`);
      });
    });
    return [h("h3", {}, "Rejected"), h("p", {}, l.reason || ""), button];
  }
  return [
    h("h3", {}, "Approved"),
    h("p", {}, "Market ", h("a", { href: "#/markets" }, l.market ? `${l.market.symbol} (${l.market.state})` : ""), ` · reviewed ${time(l.reviewed_at)} by user ${l.reviewed_by}`),
  ];
}

function approveForm(l, ctx) {
  const flagged = l.due_diligence.flags.length > 0;
  const form = h(
    "form",
    { id: "approve-form", autocomplete: "off" },
    h(
      "div",
      { class: "form-grid" },
      field("Ticker", { name: "ticker", maxlength: 32, placeholder: `SN${l.netuid}` }, "2–12 capitals and digits"),
      field("Display name", { name: "display_name", maxlength: 64, placeholder: l.subnet.name || "" }),
      field("Tick size (rao per alpha)", { name: "tick_size", inputmode: "numeric", maxlength: 20, placeholder: "default from the price" }),
      field("Lot size (alpha-rao)", { name: "lot_size", inputmode: "numeric", maxlength: 20, placeholder: "1000000" }),
      field("Min size (alpha-rao)", { name: "min_size", inputmode: "numeric", maxlength: 20, placeholder: "100000000" }),
      field("Min notional (rao)", { name: "min_notional", inputmode: "numeric", maxlength: 20, placeholder: "10000000" }),
      field("Maker fee (bps)", { name: "maker_fee_bps", inputmode: "numeric", maxlength: 4, placeholder: "10" }),
      field("Taker fee (bps)", { name: "taker_fee_bps", inputmode: "numeric", maxlength: 4, placeholder: "20" }),
      field("Price band (bps)", { name: "price_band_bps", inputmode: "numeric", maxlength: 5, placeholder: "2000" }),
      h(
        "label",
        {},
        "Initial state",
        h("select", { name: "initial_state" }, ["trading", "post_only", "cancel_only", "halted"].map((s) => h("option", { value: s }, s))),
      ),
    ),
    field(
      flagged ? "Override reason (required: the candidate is flagged)" : "Override reason",
      { name: "override_reason", maxlength: 1000, placeholder: flagged ? l.due_diligence.flags.join(", ") : "" },
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", id: "approve" }, "Approve"),
      h("button", { type: "button", class: "danger", id: "reject" }, "Reject"),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form);
    const ticker = values.ticker || `SN${l.netuid}`;
    const ok = await confirmDialog({
      title: `Approve SN${l.netuid} as ${ticker}?`,
      message: `This lists ${ticker}/TAO (${values.initial_state}) for trading.`,
      confirmText: "Approve",
    });
    if (!ok) return;
    await busy(form.querySelector("#approve"), async () => {
      const result = await ctx.api.post(`v1/admin/listings/${l.id}/approve`, values);
      ctx.navigate(`#/listings/${l.id}`, `Approved: market ${result.market.symbol} (${result.market.state})`);
    });
  });
  const rejectButton = form.querySelector("#reject");
  rejectButton.addEventListener("click", async () => {
    const values = await confirmDialog({
      title: `Reject SN${l.netuid}?`,
      fields: [{ name: "reason", label: "Reason", required: true, maxlength: 1000 }],
      confirmText: "Reject",
      danger: true,
    });
    if (!values) return;
    await busy(rejectButton, async () => {
      await ctx.api.post(`v1/admin/listings/${l.id}/reject`, { reason: values.reason });
      ctx.navigate(`#/listings/${l.id}`, `Rejected SN${l.netuid}: ${values.reason}`);
    });
  });
  return [h("h3", {}, "Decision"), form];
}
