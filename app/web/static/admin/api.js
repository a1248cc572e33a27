// Signed requests to the native API, as its README specifies: a GET or DELETE is signed over
// its query string (which carries the nonce), anything else over its JSON body (which
// carries the nonce, and then the request has no query string).
//
// Nonces must arrive in increasing order, so signed requests go one at a time: each is
// signed and sent when the previous one has been answered. Nonces are nanoseconds since the
// epoch (like `date +%s%N`), strictly increasing, written as a string in JSON (above 2^53).

import { ApiError, apiUrl, parse } from "../common/http.js";
import { sign } from "./signing.js";

export class SignedClient {
  constructor(key, cryptoKey) {
    this.key = key;
    this.cryptoKey = cryptoKey;
    this.last = 0n;
    this.queue = Promise.resolve();
  }

  nonce() {
    let n = BigInt(Date.now()) * 1000000n;
    if (n <= this.last) n = this.last + 1n;
    this.last = n;
    return n.toString();
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }

  post(path, body = {}) {
    return this.request("POST", path, { body });
  }

  patch(path, body = {}) {
    return this.request("PATCH", path, { body });
  }

  request(method, path, options) {
    const run = () => this.send(method, path, options);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  async send(method, path, { query, body } = {}) {
    const url = apiUrl(path);
    const nonce = this.nonce();
    const init = { method, headers: { Accept: "application/json" } };
    let payload;
    if (body !== undefined) {
      payload = JSON.stringify({ ...dropEmpty(body), nonce });
      init.body = payload;
      init.headers["Content-Type"] = "application/json";
    } else {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(dropEmpty(query || {}))) params.set(k, v);
      params.set("nonce", nonce);
      payload = params.toString();
      url.search = payload;
    }
    init.headers["API-Key"] = this.key;
    init.headers["API-Sign"] = await sign(this.cryptoKey, url.pathname, nonce, payload);
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new ApiError(0, null, `network error: ${err.message}`, null);
    }
    return parse(response);
  }
}

function dropEmpty(object) {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined && v !== null && v !== ""));
}
