// Public requests and the API's errors. The API answers errors as
// application/problem+json {code, message, request_id}: they are shown as it words them.

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }

  /** "signature does not match (invalid_signature)": the API's own words and code. */
  get text() {
    return this.code ? `${this.message} (${this.code})` : this.message;
  }
}

/** An API path ("v1/markets") as a URL under this page's base (works behind a path prefix). */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), document.baseURI);
}

export function wsUrl(path) {
  const url = apiUrl(path);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

export async function parse(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    if (body && typeof body === "object" && body.code) {
      throw new ApiError(response.status, body.code, body.message, body.request_id);
    }
    throw new ApiError(response.status, null, `HTTP ${response.status}`, null);
  }
  return body;
}

/** A public GET. `fresh`: bypass the browser's cache (public market data may be cached for a
 * second, too long right after a change the console itself made). */
export async function getJSON(path, query, { fresh = false } = {}) {
  const url = apiUrl(path);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
  }
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, cache: fresh ? "no-cache" : "default" });
  } catch (err) {
    throw new ApiError(0, null, `network error: ${err.message}`, null);
  }
  return parse(response);
}

/** The text to show for any error: the API's words for an ApiError. */
export function errorText(err) {
  return err instanceof ApiError ? err.text : String(err && err.message ? err.message : err);
}
