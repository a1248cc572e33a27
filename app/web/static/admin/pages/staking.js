// Staking on chain (app/staking, app/custody/stake_manager.py): per (subnet, validator) what
// the custody position should hold (users' allocations; the float under the exchange's own
// hotkey), what the chain holds, the stake manager's move in flight and the difference, with
// the drift alert; then the manager's latest plan of `move_stake` calls and their outcome.
// Read-only: the stake manager acts by itself.

import { clear, h, table } from "../../common/dom.js";
import { units } from "../../common/format.js";

const STATUS_BADGE = { executed: "ok", failed: "bad", expired: "bad", sending: "warn", planned: "warn", superseded: "" };

export async function render(view, ctx) {
  const [report, plan] = [await ctx.api.get("v1/admin/staking/reconciliation"), await ctx.api.get("v1/admin/staking/operations")];
  const positions = [
    { title: "Market", cell: (p) => p.market },
    { title: "Validator", cell: (p) => h("span", { class: "mono", title: p.hotkey }, short(p.hotkey)) },
    { title: "Allocated", class: "num", cell: (p) => units(p.allocated) },
    { title: "Float", class: "num", cell: (p) => (p.float === "0" ? "" : units(p.float)) },
    { title: "Target", class: "num", cell: (p) => units(p.target) },
    { title: "On chain", class: "num", cell: (p) => units(p.on_chain) },
    { title: "In flight", class: "num", cell: (p) => (p.in_flight === "0" ? "" : signed(p.in_flight)) },
    { title: "Difference", class: "num", cell: (p) => h("span", { dataset: { difference: p.difference } }, signed(p.difference)) },
    { title: "", cell: (p) => state(p) },
    { title: "At block", class: "num", cell: (p) => p.block ?? "–" },
  ];
  const moves = [
    { title: "Id", class: "num", cell: (o) => o.id },
    { title: "Subnet", class: "num", cell: (o) => o.netuid },
    { title: "From", cell: (o) => h("span", { class: "mono", title: o.origin_hotkey }, short(o.origin_hotkey)) },
    { title: "To", cell: (o) => h("span", { class: "mono", title: o.destination_hotkey }, short(o.destination_hotkey)) },
    { title: "Amount", class: "num", cell: (o) => units(o.amount) },
    { title: "Moved", class: "num", cell: (o) => units(o.moved) },
    { title: "Status", cell: (o) => h("span", { class: `badge ${STATUS_BADGE[o.status] ?? ""}`, dataset: { status: o.status } }, o.status) },
    { title: "Planned at", class: "num", cell: (o) => o.based_on_block },
    { title: "Included at", class: "num", cell: (o) => o.executed_block ?? "" },
    { title: "Error", class: "wrap", cell: (o) => o.error ?? "" },
  ];
  const alerts = report.positions.filter((p) => p.alert).length;
  clear(
    view,
    h("div", { class: "page-head" }, h("h1", {}, "Staking"), h("span", { class: "muted" }, "The stake manager keeps each validator's custody stake at users' allocations; the rest is the float.")),
    h(
      "div",
      { class: "panel", id: "staking-positions" },
      h("h3", {}, "Custody positions"),
      h(
        "p",
        { class: "muted" },
        h("span", { class: `badge ${report.ok ? "ok" : "bad"}`, id: "staking-ok" }, report.ok ? "ok" : alerts ? `${alerts} alert(s)` : "ledger mismatch"),
        " difference = on chain + in flight − target; an alert is a difference of at least the smallest stake move that lasted the alert threshold",
      ),
      table(positions, report.positions, { empty: "no custody positions or allocations", rowAttrs: (p) => ({ dataset: { hotkey: p.hotkey, market: p.market, difference: p.difference, alert: p.alert } }) }),
      report.ledger_mismatches.length ? h("div", { class: "error", role: "alert" }, `${report.ledger_mismatches.length} user(s) whose staked balance differs from their allocations`) : "",
    ),
    h("div", { class: "panel", id: "staking-moves" }, h("h3", {}, "Latest stake moves"), table(moves, plan.operations, { empty: "no moves planned", rowAttrs: (o) => ({ dataset: { id: o.id, status: o.status } }) })),
  );
}

function state(p) {
  if (p.alert) return h("span", { class: "badge bad" }, `alert since ${p.drifting_since}`);
  if (p.drifting_since !== null) return h("span", { class: "badge warn" }, `since ${p.drifting_since}`);
  return BigInt(p.difference) === 0n ? h("span", { class: "badge ok" }, "in line") : h("span", { class: "badge" }, "differs");
}

function short(hotkey) {
  return `${hotkey.slice(0, 6)}…${hotkey.slice(-4)}`;
}

function signed(value) {
  return BigInt(value) > 0n ? `+${units(value)}` : units(value);
}
