// The agent desktop: state, screen pop, call controls, wrap-up, quick ticket.
"use strict";

const view = {agent: null, pop: null, policy: null, skew: 0};
let channel = null;

function log(text) {
  const item = document.createElement("li");
  item.textContent = new Date().toLocaleTimeString() + " " + text;
  const list = SB.$("messages");
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
}

function command(cmd, args) {
  SB.error("");
  return channel.send(cmd, args).then((result) => {
    log(cmd + " ok");
    return result;
  }, (error) => {
    const text = (error.error || "error") + ": " + (error.message || "");
    SB.error(text);
    log(cmd + " failed: " + text);
    throw error;
  });
}

function fillSelect(id, values) {
  const select = SB.$(id);
  select.innerHTML = "";
  for (const value of values) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value;
    select.append(option);
  }
}

function renderAgent() {
  const agent = view.agent;
  if (!agent) return;
  SB.text("agent-name", agent.display_name);
  const badge = SB.$("state-badge");
  badge.textContent = agent.state.replace("_", " ");
  badge.className = "badge " + agent.state;
  SB.text("state-reason", agent.reason ? "(" + agent.reason + ")" : "");
  const call = agent.call;
  SB.show("call-controls", Boolean(call));
  if (call) {
    SB.text("call-status", call.phase + (call.held ? ", on hold" : "") + (call.muted ? ", muted" : "")
      + (call.internal_from ? ", colleague " + call.internal_from : "")
      + (call.consult ? ", consulting " + call.consult.target.value : "")
      + (call.conference_room ? ", conference" : ""));
    SB.text("rec-state", call.recording);
    SB.$("btn-answer").disabled = call.phase !== "ringing" || Boolean(call.internal_from);
    SB.$("btn-hold").textContent = call.held && !call.consult ? "Unhold (H)" : "Hold (H)";
    SB.$("btn-mute").textContent = call.muted ? "Unmute" : "Mute";
    SB.show("consult-row", Boolean(call.consult));
  } else {
    SB.show("pop", false);
  }
  SB.show("wrapup", agent.state === "wrap_up");
}

function renderPop(pop) {
  view.pop = pop;
  SB.show("pop", true);
  SB.text("pop-caller", pop.caller.number + (pop.caller.name ? " (" + pop.caller.name + ")" : ""));
  SB.text("pop-queue", pop.queue.name);
  SB.text("pop-wait", pop.wait_s);
  SB.text("ivr-path", pop.ivr.path.map((step) => step.node_id).join(" > ") || "none");
  SB.text("ivr-digits", pop.ivr.digits ? "keys: " + pop.ivr.digits : "");
  renderCard(pop.customer, pop.card_status);
}

function renderCard(customer, status) {
  const tickets = SB.$("open-tickets");
  const contacts = SB.$("recent-contacts");
  tickets.innerHTML = "";
  contacts.innerHTML = "";
  if (!customer) {
    SB.text("customer-name", status === "pending" ? "Looking up the caller..." :
      status === "unavailable" ? "Customer card unavailable" : "Unknown caller");
    SB.text("customer-vip", "");
    SB.text("customer-company", "");
    return;
  }
  SB.text("customer-name", customer.name || customer.id);
  SB.text("customer-vip", customer.vip_level && customer.vip_level !== "none" ? "VIP " + customer.vip_level : "");
  SB.text("customer-company", customer.company);
  for (const ticket of customer.open_tickets) {
    const item = document.createElement("li");
    item.textContent = ticket.number + " " + ticket.title + " [" + ticket.status + ", " + ticket.priority + "]";
    tickets.append(item);
  }
  for (const contact of customer.recent_contacts) {
    const item = document.createElement("li");
    item.textContent = (contact.at || "").slice(0, 16).replace("T", " ") + " " + contact.kind
      + (contact.disposition ? " - " + contact.disposition : "")
      + (contact.ticket_number ? " " + contact.ticket_number : "");
    contacts.append(item);
  }
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      view.policy = message.policy;
      view.skew = message.server_time - Date.now() / 1000;
      fillSelect("reason-select", message.policy.not_ready_reasons);
      fillSelect("disposition-select", message.policy.dispositions);
      view.agent = message.agent;
      if (message.pop) renderPop(message.pop);
      renderAgent();
      break;
    case "agent":
      view.agent = message.agent;
      renderAgent();
      break;
    case "pop":
      renderPop(message);
      log("call offered from " + message.caller.number);
      break;
    case "card":
      if (view.pop && view.pop.call_id === message.call_id) renderCard(message.customer, message.card_status);
      break;
    case "colleague_call":
      log(message.from_agent + " is calling you (" + message.kind + ")");
      break;
    case "colleague_answered":
      log("on the call with a colleague");
      break;
    case "call_ended":
      log("call ended");
      break;
    case "offer_withdrawn":
      SB.show("pop", false);
      log(message.missed ? "offer missed" : "offer withdrawn");
      break;
    case "forced":
      log("supervisor " + message.by + " set you " + message.state);
      break;
    case "takeover":
      SB.error(message.reason);
      break;
    case "error":
      SB.error(message.error.error + ": " + message.error.message);
      break;
    case "reply":
      if (!message.ok && !message.id) SB.error(message.error.error + ": " + message.error.message);
      break;
  }
}

function onStatus(status, code) {
  SB.text("conn-status", status);
  if (code === 4401) {
    SB.clearToken();
    SB.show("login", true);
    SB.show("desktop", false);
  }
}

function start() {
  SB.show("login", false);
  SB.show("desktop", true);
  channel = new Channel("/v1/agents/ws", onMessage, onStatus);
  channel.open();
}

function tick() {
  const agent = view.agent;
  if (!agent) return;
  const now = Date.now() / 1000 + view.skew;
  SB.text("state-timer", SB.clock(now - agent.since));
  if (agent.state === "wrap_up") {
    SB.text("wrapup-timer", agent.wrap_up_until ? SB.clock(agent.wrap_up_until - now) + " left"
      : (agent.disposition_done ? "" : "disposition required"));
  }
}

function transferArgs() {
  return {target_kind: SB.$("transfer-kind").value, target: SB.$("transfer-target").value.trim()};
}

function toggleHold() {
  const call = view.agent && view.agent.call;
  if (!call) return;
  command(call.held && !call.consult ? "unhold" : "hold").catch(() => {});
}

function transfer() {
  const args = transferArgs();
  if (!args.target) { SB.$("transfer-target").focus(); return; }
  command("transfer", args).catch(() => {});
}

function bind() {
  const on = (id, handler) => SB.$(id).addEventListener("click", (event) => { event.preventDefault(); handler(); });
  SB.$("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      SB.setToken(await SB.login(SB.$("login-tenant").value, SB.$("login-username").value, SB.$("login-password").value));
      start();
    } catch (error) { SB.error(error.message); }
  });
  on("btn-token", () => { SB.setToken(SB.$("token-input").value.trim()); start(); });
  on("btn-available", () => command("set_state", {state: "available"}).catch(() => {}));
  on("btn-not-ready", () => command("set_state", {state: "not_ready", reason: SB.$("reason-select").value}).catch(() => {}));
  on("btn-logout", () => command("set_state", {state: "logged_out"}).catch(() => {}));
  on("btn-answer", () => command("answer").catch(() => {}));
  on("btn-hangup", () => command("hangup").catch(() => {}));
  on("btn-hold", toggleHold);
  on("btn-mute", () => command(view.agent.call && view.agent.call.muted ? "unmute" : "mute").catch(() => {}));
  on("btn-transfer", transfer);
  on("btn-consult", () => command("consult", transferArgs()).catch(() => {}));
  on("btn-conference", () => {
    const call = view.agent && view.agent.call;
    command("conference", call && call.consult ? {} : transferArgs()).catch(() => {});
  });
  on("btn-consult-complete", () => command("consult_complete").catch(() => {}));
  on("btn-consult-swap", () => command("consult_swap").catch(() => {}));
  on("btn-consult-cancel", () => command("consult_cancel").catch(() => {}));
  on("btn-dtmf", () => command("dtmf", {digits: SB.$("dtmf-input").value.trim()}).catch(() => {}));
  for (const action of ["start", "pause", "resume", "stop"]) {
    on("btn-rec-" + action, () => command("record", {action}).catch(() => {}));
  }
  SB.$("wrapup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    command("wrap_up", {disposition: SB.$("disposition-select").value, notes: SB.$("wrapup-notes").value})
      .then(() => { SB.$("wrapup-notes").value = ""; }, () => {});
  });
  SB.$("ticket-form").addEventListener("submit", (event) => {
    event.preventDefault();
    command("create_ticket", {
      subject: SB.$("ticket-subject").value,
      description: SB.$("ticket-description").value,
      urgency: SB.$("ticket-urgency").value,
    }).then((result) => {
      SB.text("ticket-result", "Created " + result.ticket.number);
      SB.$("ticket-subject").value = "";
      SB.$("ticket-description").value = "";
    }, () => {});
  });
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (typing || event.ctrlKey || event.metaKey || event.altKey || !channel) return;
    const key = event.key.toLowerCase();
    if (key === "a") { event.preventDefault(); command("answer").catch(() => {}); }
    else if (key === "h") { event.preventDefault(); toggleHold(); }
    else if (key === "t") { event.preventDefault(); transfer(); }
  });
}

bind();
setInterval(tick, 500);
if (SB.token()) start();
