// Kraken's request signature, in the browser with WebCrypto (exactly as app/auth/signing.py):
//   API-Sign = base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + payload)))
// The secret is imported once as a non-extractable CryptoKey; the page keeps only that key
// object, in memory (never in storage), and forgets it on sign-out or reload.

const encoder = new TextEncoder();

export function base64ToBytes(text) {
  const clean = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(clean) || clean.length % 4 !== 0) {
    throw new Error("the API secret is not base64 text: paste it exactly as it was shown");
  }
  const binary = atob(clean);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function bytesToBase64(bytes) {
  let binary = "";
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
}

export function webCryptoAvailable() {
  return Boolean(globalThis.crypto && crypto.subtle);
}

/** The HMAC-SHA512 key of a base64 secret, not extractable. */
export async function importSecret(secretBase64) {
  if (!webCryptoAvailable()) {
    throw new Error("WebCrypto is not available: open the console over HTTPS or on localhost");
  }
  return crypto.subtle.importKey("raw", base64ToBytes(secretBase64), { name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
}

/** The API-Sign header for `path` (the URL path exactly as sent), nonce and payload. */
export async function sign(key, path, nonce, payload) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(String(nonce) + payload)));
  const pathBytes = encoder.encode(path);
  const message = new Uint8Array(pathBytes.length + digest.length);
  message.set(pathBytes);
  message.set(digest, pathBytes.length);
  return bytesToBase64(await crypto.subtle.sign("HMAC", key, message));
}
