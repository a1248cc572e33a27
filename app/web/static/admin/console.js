// The admin console: sign in with an admin API key (kept in memory only), then pages for
// listings, markets, users and keys, funding, staking and the audit log. Routing is by hash
// (#/listings/3), so the server serves one page.

import { $, clear, h } from "../common/dom.js";
import { errorText } from "../common/http.js";
import { SignedClient } from "./api.js";
import * as audit from "./pages/audit.js";
import * as funding from "./pages/funding.js";
import * as listings from "./pages/listings.js";
import * as markets from "./pages/markets.js";
import * as staking from "./pages/staking.js";
import * as users from "./pages/users.js";
import { importSecret, webCryptoAvailable } from "./signing.js";
import { clearMessages, showError, showNotice } from "./ui.js";

const PAGES = { listings, markets, users, funding, staking, audit };
let session = null; // {api, account}
let notice = null; // shown once the next page has rendered
let rendering = 0; // the latest route's number: an older one that ends late is dropped

async function signIn(event) {
  event.preventDefault();
  const keyInput = $("#signin-key");
  const secretInput = $("#signin-secret");
  const errorBox = $("#signin-error");
  const button = $("#signin-submit");
  errorBox.hidden = true;
  button.disabled = true;
  try {
    const cryptoKey = await importSecret(secretInput.value);
    const api = new SignedClient(keyInput.value.trim(), cryptoKey);
    const account = await api.get("v1/account");
    if (!account.scopes.includes("admin")) {
      throw new Error(`this key has the scopes ${account.scopes.join(", ")}: the console needs the admin scope`);
    }
    session = { api, account };
    secretInput.value = "";
    $("#signin").hidden = true;
    $("#app").hidden = false;
    $("#nav").hidden = false;
    $("#signout").hidden = false;
    $("#whoami").textContent = `${account.email} · key #${account.api_key_id}`;
    if (!location.hash.startsWith("#/")) location.hash = "#/listings";
    else route();
  } catch (err) {
    errorBox.textContent = errorText(err);
    errorBox.hidden = false;
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  session = null; // the key object goes with it; nothing was stored
  location.hash = "";
  location.reload();
}

async function route() {
  if (!session) return;
  const [, name = "listings", ...rest] = location.hash.split("/");
  const page = PAGES[name] || listings;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
  const mine = ++rendering;
  clearMessages();
  const target = h("div", { dataset: { page: name } });
  try {
    await page.render(target, { api: session.api, params: rest.map(decodeURIComponent), navigate });
    if (mine !== rendering) return;
    clear($("#view"), target);
    if (notice) showNotice(notice);
  } catch (err) {
    if (mine !== rendering) return;
    clear($("#view"));
    showError(err);
  }
  notice = null;
}

/** Go to `hash` (rendered again if it is the current one), then show `text` if given. */
function navigate(hash, text = null) {
  notice = text;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function start() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  if (!webCryptoAvailable()) {
    const box = $("#signin-error");
    box.textContent = "WebCrypto is not available here: open the console over HTTPS or on localhost.";
    box.hidden = false;
  }
}

start();
