// Funding: withdrawals awaiting review (approve with the payout's transaction, or reject),
// and deposits (credited by an admin until deposits are read from the chain). Each section
// is one function, so that more (e.g. on-chain deposits to review) can be added beside them.

import { clear, h, table } from "../../common/dom.js";
import { parseUnits, time, units } from "../../common/format.js";
import { busy, confirmDialog, field, formValues } from "../ui.js";

const WITHDRAWAL_STATES = ["pending", "approved", "rejected", "cancelled"];
let withdrawalState = "pending";

export async function render(view, ctx) {
  const [withdrawals, deposits] = await Promise.all([
    ctx.api.get("v1/admin/withdrawals", { state: withdrawalState, limit: 200 }),
    ctx.api.get("v1/admin/deposits", { limit: 100 }),
  ]);
  clear(
    view,
    h("div", { class: "page-head" }, h("h1", {}, "Funding")),
    withdrawalsSection(withdrawals.withdrawals, ctx),
    h("div", { class: "sections" }, depositsSection(deposits.deposits), depositForm(ctx)),
  );
}

function withdrawalsSection(rows, ctx) {
  const tabs = h(
    "div",
    { class: "tabs" },
    WITHDRAWAL_STATES.map((s) => h("button", { class: s === withdrawalState ? "active" : "", onclick: () => ((withdrawalState = s), ctx.navigate("#/funding")) }, s)),
  );
  const columns = [
    { title: "Id", class: "num", cell: (w) => w.id },
    { title: "User", class: "num", cell: (w) => w.user_id },
    { title: "Amount", class: "num", cell: (w) => `${units(w.amount)} ${w.asset}` },
    { title: "Destination", cell: (w) => h("span", { class: "mono" }, w.destination) },
    { title: "Requested", cell: (w) => time(w.created_at) },
    { title: "State", cell: (w) => [w.state, w.external_tx_ref ? h("span", { class: "mono" }, ` ${w.external_tx_ref}`) : null, w.reason ? ` (${w.reason})` : null] },
    { title: "", cell: (w) => (w.state === "pending" ? reviewButtons(w, ctx) : "") },
  ];
  return h(
    "div",
    { class: "panel", id: "withdrawals" },
    h("div", { class: "page-head" }, h("h3", {}, "Withdrawals"), tabs),
    table(columns, rows, { empty: `no ${withdrawalState} withdrawals`, rowAttrs: (w) => ({ dataset: { id: w.id } }) }),
  );
}

function reviewButtons(w, ctx) {
  const approve = h("button", { class: "primary" }, "Approve");
  const reject = h("button", { class: "danger" }, "Reject");
  approve.addEventListener("click", async () => {
    const values = await confirmDialog({
      title: `Approve withdrawal #${w.id}?`,
      message: `${units(w.amount)} ${w.asset} to ${w.destination} were paid out on chain: record the transaction.`,
      fields: [{ name: "external_tx_ref", label: "Payout transaction (hash or block-index)", required: true, maxlength: 128 }],
      confirmText: "Approve",
    });
    if (!values) return;
    await busy(approve, async () => {
      await ctx.api.post(`v1/admin/withdrawals/${w.id}/approve`, values);
      ctx.navigate("#/funding", `Withdrawal #${w.id} approved`);
    });
  });
  reject.addEventListener("click", async () => {
    const values = await confirmDialog({
      title: `Reject withdrawal #${w.id}?`,
      message: "The held funds go back to the user's available balance.",
      fields: [{ name: "reason", label: "Reason", required: true, maxlength: 500 }],
      confirmText: "Reject",
      danger: true,
    });
    if (!values) return;
    await busy(reject, async () => {
      await ctx.api.post(`v1/admin/withdrawals/${w.id}/reject`, values);
      ctx.navigate("#/funding", `Withdrawal #${w.id} rejected`);
    });
  });
  return [approve, " ", reject];
}

function depositsSection(rows) {
  const columns = [
    { title: "Id", class: "num", cell: (d) => d.id },
    { title: "User", class: "num", cell: (d) => d.user_id },
    { title: "Amount", class: "num", cell: (d) => `${units(d.amount)} ${d.asset}` },
    { title: "Reference", cell: (d) => h("span", { class: "mono" }, d.external_ref) },
    { title: "Credited", cell: (d) => time(d.created_at) },
  ];
  return h("div", { class: "panel", id: "deposits" }, h("h3", {}, "Recent deposits"), table(columns, rows, { empty: "no deposits" }));
}

function depositForm(ctx) {
  const form = h(
    "form",
    { id: "deposit-form", autocomplete: "off" },
    h(
      "div",
      { class: "form-grid" },
      field("User id", { name: "user_id", required: true, inputmode: "numeric", maxlength: 19 }),
      field("Asset", { name: "asset", required: true, maxlength: 16, placeholder: "TAO, SN64, ..." }),
      field("Amount", { name: "amount", required: true, maxlength: 40, placeholder: "1.5" }, "in whole units, up to 9 decimals"),
      field("External reference", { name: "external_ref", required: true, maxlength: 128 }, "e.g. the chain transaction; a retry with it credits once"),
    ),
    h("button", { type: "submit", class: "primary" }, "Credit deposit"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form);
    await busy(form.querySelector("button"), async () => {
      const amount = parseUnits(values.amount);
      const ok = await confirmDialog({ title: "Credit this deposit?", message: `${values.amount} ${values.asset} to user ${values.user_id} (${values.external_ref}).`, confirmText: "Credit" });
      if (!ok) return;
      const d = await ctx.api.post("v1/admin/deposits", { ...values, amount });
      ctx.navigate("#/funding", `Deposit #${d.id} credited`);
    });
  });
  return h("div", { class: "panel" }, h("h3", {}, "Record a deposit"), form);
}
