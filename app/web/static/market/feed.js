// The WebSocket feed (/v1/ws): one connection, reconnected with backoff; subscriptions are
// kept and sent again after every reconnection. Book sequences are checked: on a gap the
// book is subscribed again (a fresh snapshot), as the protocol asks.

import { wsUrl } from "../common/http.js";

export class Feed {
  constructor({ onstatus = () => {} } = {}) {
    this.onstatus = onstatus;
    this.handlers = new Map(); // "channel|market" -> Set(fn)
    this.wanted = new Map(); // "channel|market" -> {channel, market}
    this.sequences = new Map(); // market -> last book sequence
    this.ws = null;
    this.delay = 500;
    this.nextId = 1;
    this.connect();
  }

  connect() {
    this.onstatus("connecting");
    const ws = new WebSocket(wsUrl("v1/ws"));
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.delay = 500;
      this.onstatus("live");
      for (const sub of this.wanted.values()) this.send({ op: "subscribe", ...sub });
    });
    ws.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.sequences.clear();
      this.onstatus("reconnecting");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ ...message, id: this.nextId++ }));
    }
  }

  /** Subscribe `fn` to a public channel of a market; returns a function that unsubscribes. */
  subscribe(channel, market, fn) {
    const key = `${channel}|${market}`;
    if (!this.handlers.has(key)) this.handlers.set(key, new Set());
    const set = this.handlers.get(key);
    set.add(fn);
    if (!this.wanted.has(key)) {
      this.wanted.set(key, { channel, market });
      this.send({ op: "subscribe", channel, market });
    }
    return () => {
      set.delete(fn);
      if (!set.size) {
        this.handlers.delete(key);
        this.wanted.delete(key);
        if (channel === "book") this.sequences.delete(market);
        this.send({ op: "unsubscribe", channel, market });
      }
    };
  }

  receive(message) {
    if (message.event === "error") {
      console.warn("feed error", message.code, message.message);
      return;
    }
    if (message.event || !message.channel || !message.market) return; // acks, pongs, heartbeats
    if (message.channel === "book" && !this.inSequence(message)) return;
    const set = this.handlers.get(`${message.channel}|${message.market}`);
    if (set) for (const fn of set) fn(message);
  }

  inSequence(message) {
    const market = message.market;
    if (message.type === "snapshot") {
      this.sequences.set(market, message.sequence);
      return true;
    }
    const last = this.sequences.get(market);
    if (last === undefined) return false; // before its snapshot
    // An update carries sequences `first` to `sequence` (one change, or a batch of them).
    if ((message.first ?? message.sequence) !== last + 1) {
      // A gap: start again from a fresh snapshot.
      this.sequences.delete(market);
      this.send({ op: "unsubscribe", channel: "book", market });
      this.send({ op: "subscribe", channel: "book", market });
      return false;
    }
    this.sequences.set(market, message.sequence);
    return true;
  }
}
