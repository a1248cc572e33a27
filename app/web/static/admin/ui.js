// The console's shared pieces: messages (the API's errors in its own words), a confirmation
// dialog, and small form helpers.

import { $, clear, h } from "../common/dom.js";
import { errorText } from "../common/http.js";

export function showError(err) {
  const box = $("#messages");
  clear(box, h("div", { class: "error", role: "alert" }, errorText(err)));
  box.scrollIntoView({ block: "nearest" });
}

export function showNotice(text) {
  clear($("#messages"), h("div", { class: "notice", role: "status" }, text));
}

export function clearMessages() {
  clear($("#messages"));
}

/**
 * Ask before doing something: resolves to the values of `fields` (by name), or null when
 * cancelled. fields: [{name, label, required, value, placeholder}]
 */
export function confirmDialog({ title, message, fields = [], confirmText = "Confirm", danger = false }) {
  const dialog = $("#confirm");
  const inputs = fields.map((f) =>
    h("input", { name: f.name, value: f.value ?? "", placeholder: f.placeholder ?? "", required: f.required, maxlength: f.maxlength ?? 500, autocomplete: "off" }),
  );
  const error = h("div", { class: "error", hidden: true });
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", {}, title),
    message ? h("p", {}, message) : null,
    fields.map((f, i) => h("label", {}, f.label, inputs[i])),
    error,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", value: "cancel", class: "cancel" }, "Cancel"),
      h("button", { type: "submit", value: "confirm", class: danger ? "danger confirm" : "primary confirm" }, confirmText),
    ),
  );
  clear(dialog, form);
  return new Promise((resolve) => {
    const done = (value) => {
      dialog.close();
      resolve(value);
    };
    form.querySelector("button.cancel").addEventListener("click", () => done(null));
    dialog.addEventListener("cancel", () => resolve(null), { once: true });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = {};
      for (const [i, f] of fields.entries()) {
        const v = inputs[i].value.trim();
        if (f.required && !v) {
          error.hidden = false;
          error.textContent = `${f.label} is required`;
          return;
        }
        values[f.name] = v;
      }
      done(values);
    });
    dialog.showModal();
    (inputs[0] || form.querySelector("button.confirm")).focus();
  });
}

/** A labelled input. */
export function field(label, attrs = {}, hint = null) {
  return h("label", {}, label, h("input", { autocomplete: "off", ...attrs }), hint ? h("span", { class: "hint" }, hint) : null);
}

/** The form's values by name; empty ones left out. */
export function formValues(form) {
  const out = {};
  for (const el of form.querySelectorAll("input, select, textarea")) {
    if (!el.name || el.type === "checkbox") continue;
    const v = el.value.trim();
    if (v !== "") out[el.name] = v;
  }
  return out;
}

/** Runs `action` with the button disabled; errors are shown as the API words them. */
export async function busy(button, action) {
  button.disabled = true;
  try {
    return await action();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    button.disabled = false;
  }
}
