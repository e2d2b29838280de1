// Supervisor live view: agents and calls per queue, forced states, listen/whisper/barge.
"use strict";

const agents = new Map();
let channel = null;
let skew = 0;

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function button(label, testid, handler) {
  const element = document.createElement("button");
  element.textContent = label;
  element.dataset.testid = testid;
  element.addEventListener("click", handler);
  return element;
}

function act(cmd, args, done) {
  SB.error("");
  channel.send(cmd, args).then(done || (() => {}),
    (error) => {
      SB.text("sup-status", "");
      SB.error((error.error || "error") + ": " + (error.message || ""));
    });
}

function eavesdrop(agentId, mode) {
  const endpoint = SB.$("sup-endpoint").value.trim();
  SB.text("sup-status", "calling " + endpoint + " to " + mode + "...");
  act("eavesdrop", {agent_id: agentId, mode, endpoint},
    () => {
      const agent = agents.get(agentId);
      SB.text("sup-status", mode + ": " + endpoint + " is on " + (agent ? agent.display_name : agentId) + "'s call");
    });
}

function renderAgents() {
  const body = SB.$("agents").querySelector("tbody");
  body.innerHTML = "";
  const now = Date.now() / 1000 + skew;
  for (const agent of [...agents.values()].sort((a, b) => a.agent_id.localeCompare(b.agent_id))) {
    const row = document.createElement("tr");
    row.dataset.testid = "agent-" + agent.agent_id;
    cell(row, agent.display_name + (agent.desktop_connected ? "" : " (no desktop)"));
    cell(row, agent.state + (agent.reason ? " (" + agent.reason + ")" : ""));
    cell(row, SB.clock(now - agent.since));
    const caller = agent.call && agent.call.internal_from
      ? "colleague " + agent.call.internal_from : agent.call ? agent.call.caller_number : "";
    cell(row, caller + (agent.call && agent.call.held ? " on hold" : ""));
    const actions = cell(row, "");
    const id = agent.agent_id;
    actions.append(
      button("Ready", "force-available-" + id, () => act("force_state", {agent_id: id, state: "available"})),
      button("Not ready", "force-not-ready-" + id, () => act("force_state", {agent_id: id, state: "not_ready", reason: "supervisor"})),
      button("Log out", "force-logout-" + id, () => act("force_state", {agent_id: id, state: "logged_out"})),
    );
    for (const mode of ["listen", "whisper", "barge"]) {
      actions.append(button(mode, mode + "-" + id, () => eavesdrop(id, mode)));
    }
    body.append(row);
  }
}

function renderQueues(queues) {
  const body = SB.$("queues").querySelector("tbody");
  body.innerHTML = "";
  for (const queue of queues) {
    const row = document.createElement("tr");
    row.dataset.testid = "queue-" + queue.queue_id;
    cell(row, queue.name);
    cell(row, Object.entries(queue.by_state).sort().map(([state, n]) => state + ": " + n).join(", "));
    cell(row, queue.calls.map((call) => call.agent_id + " " + call.talk_s + "s").join(", "));
    body.append(row);
  }
}

function onMessage(message) {
  if (message.type === "snapshot") {
    agents.clear();
    for (const agent of message.agents) agents.set(agent.agent_id, agent);
    renderQueues(message.queues);
    renderAgents();
  } else if (message.type === "agent") {
    agents.set(message.agent.agent_id, message.agent);
    renderAgents();
  } else if (message.type === "queues") {
    renderQueues(message.queues);
  } else if (message.type === "error") {
    SB.error(message.error.error + ": " + message.error.message);
  }
}

function start() {
  SB.show("login", false);
  SB.show("desktop", true);
  channel = new Channel("/v1/supervisor/ws", onMessage, (status) => SB.text("conn-status", status));
  channel.open();
}

SB.$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    SB.setToken(await SB.login(SB.$("login-tenant").value, SB.$("login-username").value, SB.$("login-password").value));
    start();
  } catch (error) { SB.error(error.message); }
});
SB.$("btn-token").addEventListener("click", () => { SB.setToken(SB.$("token-input").value.trim()); start(); });
setInterval(renderAgents, 1000);
if (SB.token()) start();
