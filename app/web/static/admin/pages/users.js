// Users and their API keys: create a user, issue a key (its secret shown once), revoke a key.

import { clear, h, table } from "../../common/dom.js";
import { time } from "../../common/format.js";
import { busy, clearMessages, confirmDialog, field, formValues } from "../ui.js";

const SCOPES = ["read", "trade", "withdraw", "admin"];
let search = "";

export async function render(view, ctx) {
  const id = ctx.params[0];
  if (id) return detail(view, ctx, id);
  return list(view, ctx);
}

async function list(view, ctx) {
  const page = await ctx.api.get("v1/admin/users", { email: search, limit: 200 });
  const searchForm = h("form", { class: "actions", autocomplete: "off" }, h("input", { name: "email", value: search, placeholder: "search by email", maxlength: 254 }), h("button", { type: "submit" }, "Search"));
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    search = searchForm.elements.email.value.trim();
    ctx.navigate("#/users");
  });
  const create = h(
    "form",
    { id: "create-user", autocomplete: "off" },
    h("div", { class: "form-grid" }, field("Email", { name: "email", required: true, maxlength: 254 }), field("Name", { name: "name", maxlength: 200 })),
    h("button", { type: "submit", class: "primary" }, "Create user"),
  );
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(create.querySelector("button"), async () => {
      const user = await ctx.api.post("v1/admin/users", formValues(create));
      ctx.navigate(`#/users/${user.id}`, `Created user ${user.email}`);
    });
  });
  const columns = [
    { title: "Id", class: "num", cell: (u) => u.id },
    { title: "Email", cell: (u) => u.email },
    { title: "Name", cell: (u) => u.name || "" },
    { title: "Live keys", class: "num", cell: (u) => u.live_keys },
    { title: "Created", cell: (u) => time(u.created_at) },
  ];
  clear(
    view,
    h("div", { class: "page-head" }, h("h1", {}, "Users & keys"), h("span", { class: "spacer" }), searchForm),
    h("div", { class: "sections" },
      h("div", { class: "panel", id: "users" }, table(columns, page.users, { onrow: (u) => ctx.navigate(`#/users/${u.id}`), rowAttrs: (u) => ({ dataset: { email: u.email } }) }), page.next_cursor ? h("p", { class: "muted" }, "Showing the newest 200: search to narrow.") : null),
      h("div", { class: "panel" }, h("h3", {}, "New user"), create),
    ),
  );
}

async function detail(view, ctx, id) {
  const { keys } = await ctx.api.get(`v1/admin/users/${encodeURIComponent(id)}/keys`);
  const columns = [
    { title: "Key id", class: "num", cell: (k) => k.id },
    { title: "Scopes", cell: (k) => k.scopes.map((s) => h("span", { class: s === "admin" ? "badge warn" : "badge" }, s)) },
    { title: "Label", cell: (k) => k.label || "" },
    { title: "Created", cell: (k) => time(k.created_at) },
    { title: "Revoked", cell: (k) => (k.revoked_at ? h("span", { class: "badge bad" }, time(k.revoked_at)) : "") },
    { title: "", cell: (k) => (k.revoked_at ? "" : revokeButton(k, ctx, id)) },
  ];
  const issue = h(
    "form",
    { id: "issue-key", autocomplete: "off" },
    h("div", { class: "actions" }, SCOPES.map((s) => h("label", { class: "inline" }, h("input", { type: "checkbox", name: "scope", value: s, checked: s === "read" }), s))),
    field("Label", { name: "label", maxlength: 200, placeholder: "e.g. trading bot" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Issue key")),
  );
  const secretBox = h("div");
  issue.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    const scopes = [...issue.querySelectorAll("input[name=scope]:checked")].map((el) => el.value);
    await busy(issue.querySelector("button"), async () => {
      const issued = await ctx.api.post(`v1/admin/users/${encodeURIComponent(id)}/keys`, { scopes, label: issue.elements.label.value.trim() });
      // Shown once: not kept anywhere after this page is left.
      clear(
        secretBox,
        h("div", { class: "secret-box", id: "issued-key" },
          h("b", {}, `Key #${issued.id} (${issued.scopes.join(", ")}): copy the secret now, it is never shown again.`),
          h("div", {}, "API-Key: ", h("span", { class: "mono" }, issued.api_key)),
          h("div", {}, "API-Secret: ", h("span", { class: "mono" }, issued.api_secret)),
        ),
      );
      const table_ = view.querySelector("#keys");
      const fresh = await ctx.api.get(`v1/admin/users/${encodeURIComponent(id)}/keys`);
      clear(table_, table(columns, fresh.keys));
    });
  });
  clear(
    view,
    h("div", { class: "page-head" }, h("a", { href: "#/users" }, "← Users"), h("h1", {}, `User ${id}`)),
    h("div", { class: "sections" },
      h("div", { class: "panel" }, h("h3", {}, "API keys"), h("div", { id: "keys" }, table(columns, keys, { empty: "no keys", rowAttrs: (k) => ({ dataset: { keyId: k.id } }) }))),
      h("div", { class: "panel" }, h("h3", {}, "Issue a key"), issue, secretBox),
    ),
  );
}

function revokeButton(key, ctx, userId) {
  const button = h("button", { class: "danger", dataset: { revoke: key.id } }, "Revoke");
  button.addEventListener("click", async () => {
    const values = await confirmDialog({
      title: `Revoke key #${key.id}?`,
      message: "Requests signed with it are refused from now on and its WebSocket sessions end. This cannot be undone.",
      fields: [{ name: "reason", label: "Reason", required: true, maxlength: 500 }],
      confirmText: "Revoke",
      danger: true,
    });
    if (!values) return;
    await busy(button, async () => {
      await ctx.api.post(`v1/admin/keys/${key.id}/revoke`, { reason: values.reason });
      ctx.navigate(`#/users/${userId}`, `Revoked key #${key.id}`);
    });
  });
  return button;
}
