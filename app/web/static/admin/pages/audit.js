// The audit log: who did what, when, before and after; newest first, filtered by action.

import { clear, h, table } from "../../common/dom.js";
import { time } from "../../common/format.js";

const ACTIONS = ["", "listing.approve", "listing.reject", "listing.reconsider", "market.state", "market.state.auto", "market.update", "user.create", "api_key.issue", "api_key.revoke", "withdrawal.approve", "withdrawal.reject", "deposit.credit", "deposit.admin", "deposit_address.retire"];
let action = "";

export async function render(view, ctx) {
  const select = h("select", { id: "audit-action" }, ACTIONS.map((a) => h("option", { value: a }, a || "every action")));
  select.value = action;
  select.addEventListener("change", () => {
    action = select.value;
    ctx.navigate("#/audit");
  });
  const body = h("div", { class: "panel", id: "audit" });
  clear(view, h("div", { class: "page-head" }, h("h1", {}, "Audit log"), select), body);
  await page(body, ctx, null);
}

async function page(body, ctx, cursor) {
  const result = await ctx.api.get("v1/admin/audit", { limit: 50, action, cursor });
  const columns = [
    { title: "When", cell: (e) => time(e.at) },
    { title: "Action", cell: (e) => h("span", { class: "mono" }, e.action) },
    { title: "Target", cell: (e) => `${e.target_type} ${e.target_id}` },
    { title: "By", cell: (e) => (e.actor_user_id ? `user ${e.actor_user_id} · key ${e.actor_key_id}` : h("span", { class: "muted" }, "the system")) },
    { title: "Reason", class: "wrap", cell: (e) => e.reason || "" },
    { title: "Before", class: "wrap", cell: (e) => json(e.before) },
    { title: "After", class: "wrap", cell: (e) => json(e.after) },
  ];
  const tableEl = table(columns, result.entries, { empty: "no entries", rowAttrs: (e) => ({ dataset: { action: e.action, target: e.target_id } }) });
  if (cursor === null) clear(body, tableEl);
  else body.querySelector("tbody").append(...tableEl.querySelector("tbody").children);
  body.querySelector(".more")?.remove();
  if (result.next_cursor) {
    const more = h("button", { class: "more" }, "Older entries");
    more.addEventListener("click", () => page(body, ctx, result.next_cursor));
    body.append(more);
  }
}

function json(value) {
  if (!value) return "";
  return h("pre", { class: "json" }, JSON.stringify(value, null, 1).replace(/\n\s*/g, " "));
}
