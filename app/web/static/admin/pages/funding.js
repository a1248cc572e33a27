// Funding: custody on chain (app/custody, routes under v1/admin/custody) and the ledger's
// admin credits. One section per concern, top to bottom:
//
//   1. withdrawals awaiting approval (above the approval threshold): approve, or reject with a
//      reason, each after a confirmation;
//   2. chain deposits held for review (below the minimum, to a retired address, alpha of an
//      unlisted subnet): credit one, with a reason;
//   3. the custody reconciliation per asset, on chain against the ledger (read-only; loaded
//      after the page, since it reads the chain);
//   4. recent withdrawals of every user, by state, with their transaction hash; a queued one
//      can still be rejected;
//   5. recent credited chain deposits;
//   6. admin credits (a correction, audited): the form and the list.
//
// Every action is audited by the API; its refusals are shown in its own words.

import { clear, h, table } from "../../common/dom.js";
import { parseUnits, time, units } from "../../common/format.js";
import { errorText } from "../../common/http.js";
import { busy, confirmDialog, field, formValues } from "../ui.js";

const PAGE = 50; // rows per page of a history list ("Older" fetches the next)
const WITHDRAWAL_STATES = ["pending_approval", "queued", "sending", "completed", "failed", "rejected", "cancelled"];
const HELD_STATES = {
  below_minimum: "below the minimum deposit",
  retired_address: "sent to a retired deposit address",
  unlisted_asset: "alpha of a subnet without a listed asset",
};
const STATE_BADGE = { completed: "ok", credited: "ok", failed: "bad", rejected: "bad", cancelled: "", pending_approval: "warn", queued: "warn", sending: "warn" };
let withdrawalState = ""; // the recent withdrawals' filter: "" is every state

export async function render(view, ctx) {
  const custody = "v1/admin/custody";
  const awaiting = await ctx.api.get(`${custody}/withdrawals`, { state: "pending_approval", limit: 500 });
  const held = [];
  for (const state of Object.keys(HELD_STATES)) {
    held.push(...(await ctx.api.get(`${custody}/deposits`, { state, limit: 500 })).deposits);
  }
  held.sort((a, b) => b.id - a.id);
  const recentWithdrawals = (before_id) => ctx.api.get(`${custody}/withdrawals`, { state: withdrawalState, before_id, limit: PAGE }).then((r) => r.withdrawals);
  const creditedDeposits = (before_id) => ctx.api.get(`${custody}/deposits`, { state: "credited", before_id, limit: PAGE }).then((r) => r.deposits);
  const adminCredits = (before_id) => ctx.api.get("v1/admin/deposits", { before_id, limit: PAGE }).then((r) => r.deposits);
  const [withdrawals, credited, credits] = [await recentWithdrawals(), await creditedDeposits(), await adminCredits()];

  const refresh = h("button", { id: "funding-refresh", onclick: () => ctx.navigate("#/funding") }, "Refresh");
  const reconciliation = h("div", { class: "panel", id: "reconciliation" }, h("h3", {}, "Custody reconciliation"), h("p", { class: "muted" }, "reading the chain…"));
  clear(
    view,
    h("div", { class: "page-head" }, h("h1", {}, "Funding"), h("span", { class: "muted" }, "Custody on chain; every action is confirmed and audited."), h("span", { class: "spacer" }), refresh),
    approvalsSection(awaiting.withdrawals, ctx),
    heldSection(held, ctx),
    reconciliation,
    withdrawalsSection(withdrawals, recentWithdrawals, ctx),
    h("div", { class: "panel", id: "chain-deposits" }, h("h3", {}, "Recent credited chain deposits"), pagedTable(depositColumns(false), credited, creditedDeposits, { empty: "no chain deposits credited yet", rowAttrs: (d) => ({ dataset: { id: d.id } }) })),
    h("div", { class: "sections" }, creditsSection(credits, adminCredits), creditForm(ctx)),
  );
  loadReconciliation(reconciliation, ctx); // after the page: it reads the chain
}

// ---------------------------------------------------------------------------- withdrawals

function approvalsSection(rows, ctx) {
  const columns = [
    ...withdrawalColumns(),
    { title: "", cell: (w) => [approveButton(w, ctx), " ", rejectButton(w, ctx)] },
  ];
  return h(
    "div",
    { class: "panel", id: "approvals" },
    h("h3", {}, `Withdrawals awaiting approval (${rows.length})`),
    table(columns, rows, { empty: "no withdrawals await approval", rowAttrs: (w) => ({ dataset: { id: w.id } }) }),
  );
}

function withdrawalsSection(rows, load, ctx) {
  const filter = h("select", { id: "withdrawal-state" }, h("option", { value: "" }, "every state"), WITHDRAWAL_STATES.map((s) => h("option", { value: s }, s)));
  filter.value = withdrawalState;
  filter.addEventListener("change", () => {
    withdrawalState = filter.value;
    ctx.navigate("#/funding");
  });
  const columns = [
    ...withdrawalColumns(),
    { title: "State", cell: (w) => [h("span", { class: `badge ${STATE_BADGE[w.state] ?? ""}`, dataset: { state: w.state } }, w.state), partlySent(w)] },
    { title: "Fee", class: "num", cell: (w) => (w.fee === "0" ? "" : units(w.fee)) },
    { title: "Transaction", cell: (w) => txCell(w.txid, w.block_number) },
    { title: "Reason", class: "wrap", cell: (w) => w.reason || "" },
    { title: "Resolved", cell: (w) => (w.resolved_at ? time(w.resolved_at) : "") },
    // An admin may still stop a queued one (the API refuses once the signer has it).
    { title: "", cell: (w) => (w.state === "queued" ? rejectButton(w, ctx) : "") },
  ];
  return h(
    "div",
    { class: "panel", id: "withdrawals" },
    h("div", { class: "page-head" }, h("h3", {}, "Recent withdrawals"), filter),
    pagedTable(columns, rows, load, { empty: withdrawalState ? `no ${withdrawalState} withdrawals` : "no withdrawals", rowAttrs: (w) => ({ dataset: { id: w.id, state: w.state } }) }),
  );
}

/** A withdrawal that left in parts (a capped stake transfer) and was not completed. */
function partlySent(w) {
  return w.sent !== "0" && w.sent !== w.amount ? h("span", { class: "muted" }, ` ${units(w.sent)} sent`) : "";
}

function withdrawalColumns() {
  return [
    { title: "Id", class: "num", cell: (w) => w.id },
    { title: "User", class: "num", cell: (w) => userLink(w.user_id) },
    { title: "Amount", class: "num", cell: (w) => `${units(w.amount)} ${w.asset}` },
    { title: "To", cell: (w) => [w.address_name ? `${w.address_name} ` : "", h("span", { class: "mono clip", title: w.destination }, w.destination)] },
    { title: "Requested", cell: (w) => time(w.created_at) },
  ];
}

function approveButton(w, ctx) {
  const button = h("button", { class: "primary", dataset: { approve: w.id } }, "Approve");
  button.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Approve withdrawal #${w.id}?`,
      message: `${units(w.amount)} ${w.asset} of user ${w.user_id} to ${w.destination}: the signer sends it on chain, where it cannot be undone.`,
      confirmText: "Approve",
    });
    if (!ok) return;
    await busy(button, async () => {
      await ctx.api.post(`v1/admin/custody/withdrawals/${w.id}/approve`);
      ctx.navigate("#/funding", `Withdrawal #${w.id} approved: queued for the signer`);
    });
  });
  return button;
}

function rejectButton(w, ctx) {
  const button = h("button", { class: "danger", dataset: { reject: w.id } }, "Reject");
  button.addEventListener("click", async () => {
    const values = await confirmDialog({
      title: `Reject withdrawal #${w.id}?`,
      message: `${units(w.amount)} ${w.asset} of user ${w.user_id}: the held funds return to the user's available balance. The user sees the reason.`,
      fields: [{ name: "reason", label: "Reason", required: true, maxlength: 500 }],
      confirmText: "Reject",
      danger: true,
    });
    if (!values) return;
    await busy(button, async () => {
      await ctx.api.post(`v1/admin/custody/withdrawals/${w.id}/reject`, { reason: values.reason });
      ctx.navigate("#/funding", `Withdrawal #${w.id} rejected`);
    });
  });
  return button;
}

// ---------------------------------------------------------------------------- chain deposits

function heldSection(rows, ctx) {
  const columns = [...depositColumns(true), { title: "", cell: (d) => creditButton(d, ctx) }];
  return h(
    "div",
    { class: "panel", id: "held-deposits" },
    h("h3", {}, `Chain deposits held for review (${rows.length})`),
    table(columns, rows, { empty: "no deposits are held", rowAttrs: (d) => ({ dataset: { id: d.id, state: d.state } }) }),
  );
}

function depositColumns(held) {
  return [
    { title: "Id", class: "num", cell: (d) => d.id },
    { title: "User", class: "num", cell: (d) => userLink(d.user_id) },
    { title: "Amount", class: "num", cell: (d) => `${units(d.amount)} ${depositAsset(d)}` },
    held
      ? { title: "Held", cell: (d) => h("span", { class: "badge warn", title: HELD_STATES[d.state] || d.state }, d.state) }
      : { title: "Credited", cell: (d) => [time(d.credited_at), d.credited_by ? h("span", { class: "muted" }, ` by user ${d.credited_by}`) : ""] },
    { title: "To address", cell: (d) => h("span", { class: "mono clip", title: d.address }, d.address) },
    { title: "From", cell: (d) => (d.sender ? h("span", { class: "mono clip", title: d.sender }, d.sender) : "") },
    { title: "Transaction", cell: (d) => txCell(d.extrinsic_hash, d.block_number) },
    { title: "Seen", cell: (d) => time(d.created_at) },
  ];
}

function depositAsset(d) {
  return d.asset || `alpha of subnet ${d.netuid} (unlisted)`;
}

function creditButton(d, ctx) {
  const button = h("button", { class: "primary", dataset: { credit: d.id } }, "Credit");
  button.addEventListener("click", async () => {
    const values = await confirmDialog({
      title: `Credit deposit #${d.id}?`,
      message: `${units(d.amount)} ${depositAsset(d)} to user ${d.user_id}, held as ${d.state} (${HELD_STATES[d.state] || d.state}).`,
      fields: [{ name: "reason", label: "Reason", required: true, maxlength: 500 }],
      confirmText: "Credit",
    });
    if (!values) return;
    await busy(button, async () => {
      const credited = await ctx.api.post(`v1/admin/custody/deposits/${d.id}/credit`, { reason: values.reason });
      ctx.navigate("#/funding", `Deposit #${d.id} credited: ${units(credited.amount)} ${credited.asset} to user ${credited.user_id}`);
    });
  });
  return button;
}

// ---------------------------------------------------------------------------- reconciliation

async function loadReconciliation(panel, ctx) {
  const title = panel.querySelector("h3");
  let report;
  try {
    report = await ctx.api.get("v1/admin/custody/reconciliation");
  } catch (err) {
    clear(panel, title, h("div", { class: "error", role: "alert" }, errorText(err)));
    return;
  }
  const columns = [
    { title: "Asset", cell: (a) => a.asset },
    { title: "On chain", class: "num", cell: (a) => units(a.on_chain) },
    { title: "Ledger (custody)", class: "num", cell: (a) => units(a.ledger_custody) },
    { title: "Difference", class: "num", cell: (a) => h("span", { dataset: { difference: a.difference } }, signed(a.difference)) },
    { title: "", cell: (a) => h("span", { class: `badge ${difference(a) === "deficit" ? "bad" : difference(a) === "balanced" ? "ok" : "warn"}` }, difference(a)) },
    { title: "Users' balances", class: "num", cell: (a) => units(a.user_liabilities) },
    { title: "Uncredited deposits", class: "num", cell: (a) => units(a.uncredited_deposits) },
  ];
  clear(
    panel,
    title,
    h(
      "p",
      { class: "muted" },
      h("span", { class: `badge ${report.ok ? "ok" : "bad"}`, id: "reconciliation-ok" }, report.ok ? "ok" : "deficit"),
      `at block ${report.block_number ?? "–"} · ${report.accounts} custody accounts (the omnibus and every deposit address) · difference = on chain − ledger`,
    ),
    table(columns, report.assets, { empty: "no assets", rowAttrs: (a) => ({ dataset: { asset: a.asset, difference: a.difference, ok: a.ok } }) }),
  );
  panel.dataset.block = report.block_number ?? "";
}

function difference(a) {
  const d = BigInt(a.difference);
  return d === 0n ? "balanced" : d > 0n ? "surplus" : "deficit";
}

function signed(value) {
  return BigInt(value) > 0n ? `+${units(value)}` : units(value);
}

// ---------------------------------------------------------------------------- admin credits

function creditsSection(rows, load) {
  const columns = [
    { title: "Id", class: "num", cell: (d) => d.id },
    { title: "User", class: "num", cell: (d) => userLink(d.user_id) },
    { title: "Amount", class: "num", cell: (d) => `${units(d.amount)} ${d.asset}` },
    { title: "Reference", cell: (d) => h("span", { class: "mono" }, d.external_ref) },
    { title: "Credited", cell: (d) => time(d.created_at) },
  ];
  return h("div", { class: "panel", id: "deposits" }, h("h3", {}, "Admin credits"), pagedTable(columns, rows, load, { empty: "no admin credits", rowAttrs: (d) => ({ dataset: { id: d.id } }) }));
}

function creditForm(ctx) {
  const form = h(
    "form",
    { id: "deposit-form", autocomplete: "off" },
    h("p", { class: "muted" }, "A correction: it credits the user and debits custody without a chain deposit (e.g. funds that reached the omnibus directly). Chain deposits are credited by the scanner, or above."),
    h(
      "div",
      { class: "form-grid" },
      field("User id", { name: "user_id", required: true, inputmode: "numeric", maxlength: 19 }),
      field("Asset", { name: "asset", required: true, maxlength: 16, placeholder: "TAO, SN64, ..." }),
      field("Amount", { name: "amount", required: true, maxlength: 40, placeholder: "1.5" }, "in whole units, up to 9 decimals"),
      field("External reference", { name: "external_ref", required: true, maxlength: 128 }, "e.g. the chain transaction; a retry with it credits once"),
      field("Reason", { name: "reason", required: true, maxlength: 500 }, "kept in the audit log"),
    ),
    h("button", { type: "submit", class: "primary" }, "Credit"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form);
    await busy(form.querySelector("button"), async () => {
      const amount = parseUnits(values.amount);
      const ok = await confirmDialog({
        title: "Credit this correction?",
        message: `${units(amount)} ${values.asset} to user ${values.user_id} (${values.external_ref}), debiting custody: the reconciliation shows it as a deficit unless the funds are on chain.`,
        confirmText: "Credit",
      });
      if (!ok) return;
      const d = await ctx.api.post("v1/admin/deposits", { ...values, amount });
      ctx.navigate("#/funding", `Admin credit #${d.id}: ${units(d.amount)} ${d.asset} to user ${d.user_id}`);
    });
  });
  return h("div", { class: "panel" }, h("h3", {}, "Credit a user (correction)"), form);
}

// ---------------------------------------------------------------------------- helpers

function userLink(id) {
  return h("a", { href: `#/users/${id}` }, id);
}

function txCell(hash, block) {
  if (!hash) return "";
  return [h("span", { class: "mono clip", title: hash, dataset: { txid: hash } }, hash), block ? h("span", { class: "muted" }, ` in block ${block}`) : ""];
}

/** A table of the newest rows; "Older" appends the next page (`load(before_id)`). */
function pagedTable(columns, rows, load, options) {
  const tableEl = table(columns, rows, options);
  const box = h("div", {}, tableEl);
  const offerMore = (page) => {
    if (page.length < PAGE) return;
    const more = h("button", { class: "more" }, "Older");
    more.addEventListener("click", () =>
      busy(more, async () => {
        const next = await load(page[page.length - 1].id);
        if (next.length) tableEl.tBodies[0].append(...table(columns, next, options).tBodies[0].rows);
        more.remove();
        offerMore(next);
      }),
    );
    box.append(more);
  };
  offerMore(rows);
  return box;
}
