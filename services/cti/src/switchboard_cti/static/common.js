// Shared by the desktop and the supervisor page: token storage, login, WebSocket with
// reconnect and request ids, small DOM helpers.
"use strict";

const SB = {
  token() { return sessionStorage.getItem("sb_token") || ""; },
  setToken(token) { sessionStorage.setItem("sb_token", token); },
  clearToken() { sessionStorage.removeItem("sb_token"); },
  $(id) { return document.getElementById(id); },
  text(id, value) { const el = SB.$(id); if (el) el.textContent = value == null ? "" : String(value); },
  show(id, visible) { const el = SB.$(id); if (el) el.classList.toggle("hidden", !visible); },
  clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  },
  error(message) {
    const banner = SB.$("error-banner");
    if (!banner) return;
    banner.textContent = message;
    banner.classList.toggle("hidden", !message);
  },
  async login(tenant, username, password) {
    const response = await fetch("/v1/auth/login", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({tenant, username, password}),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || ("login failed: " + response.status));
    return body.access_token;
  },
};

// A WebSocket that reconnects (state lives on the server) and matches replies to requests.
class Channel {
  constructor(path, onMessage, onStatus) {
    this.path = path;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.pending = new Map();
    this.seq = 0;
    this.retry = 500;
    this.stopped = false;
  }
  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = scheme + "://" + location.host + this.path + "?token=" + encodeURIComponent(SB.token());
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => { this.retry = 500; this.onStatus("connected"); };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "reply" && this.pending.has(message.id)) {
        const {resolve, reject} = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.ok) resolve(message.result); else reject(message.error);
      }
      this.onMessage(message);
    };
    socket.onclose = (event) => {
      for (const {reject} of this.pending.values()) reject({error: "disconnected", message: "connection lost"});
      this.pending.clear();
      if (event.code === 4001 || event.code === 4401 || event.code === 4403 || event.code === 4003) {
        this.stopped = true;
        this.onStatus("closed: " + (event.reason || event.code), event.code);
        return;
      }
      this.onStatus("reconnecting");
      if (!this.stopped) setTimeout(() => this.open(), this.retry);
      this.retry = Math.min(this.retry * 2, 8000);
    };
  }
  send(cmd, args) {
    const id = "r" + (++this.seq);
    const message = Object.assign({id, cmd}, args || {});
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject({error: "disconnected", message: "not connected"});
        return;
      }
      this.pending.set(id, {resolve, reject});
      this.socket.send(JSON.stringify(message));
    });
  }
}
