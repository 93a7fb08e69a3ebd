// The sandbox's web chat. One column per person; the server sends the chats as they stand
// (long poll on /api/state), the page sends what people do (/api/send, /api/press, ...).
// Message HTML comes from the server already made safe (sandbox/render.py); everything else
// is set as text. The page's own chrome (banner, toolbar, status) speaks the sandbox's
// language, Chinese, or English by its toggle; each column speaks its person's (/lang).
"use strict";

const UI = {
  zh: {
    banner: "本地演示环境：不连接 Telegram，所有人和消息都在本机。",
    split: "并排",
    clock: "沙盒时间",
    "time-controls": "⏱ 时间",
    "ui-lang": "EN",
    "ui-lang-label": "Page in English",
    "next-morning": "下个工作日 08:30",
    "monday-9": "周一 09:00",
    "meeting-1h": "会前1小时",
    workdays: "+N个工作日",
    reset: "重置",
    send: "发送",
    placeholder: "输入消息或 /命令",
    edited: "已编辑",
    as: "发言人",
    jumped: "时间已跳到",
    resetting: "正在重置委员会……",
    resetDone: "已重置：委员会重新开始。",
    failed: "操作失败：",
    noCommands: "（无命令）",
    bytes: "字节",
    err_empty: "内容为空。",
    err_no_button: "该按钮已不存在（消息已更新）。",
    err_resetting: "委员会正在重置，请稍候。",
    err_workdays: "工作日数须为1至60。",
    err_too_large: "文件过大（上限20 MB）。",
    err_no_meeting: "没有在一小时以后开始的会议。",
  },
  en: {
    banner: "A local demonstration: nothing reaches Telegram; every person and message is on this machine.",
    split: "Side by side",
    clock: "Sandbox time",
    "time-controls": "⏱ Time",
    "ui-lang": "中文",
    "ui-lang-label": "页面使用中文",
    "next-morning": "Next working day 08:30",
    "monday-9": "Monday 09:00",
    "meeting-1h": "1 h before meeting",
    workdays: "+N working days",
    reset: "Reset",
    send: "Send",
    placeholder: "A message or /command",
    edited: "edited",
    as: "Speaker",
    jumped: "Time jumped to",
    resetting: "Resetting the committee…",
    resetDone: "Reset: the committee starts afresh.",
    failed: "Failed: ",
    noCommands: "(no commands)",
    bytes: " bytes",
    err_empty: "Nothing to send.",
    err_no_button: "That button is gone (the message has changed).",
    err_resetting: "The committee is being reset: a moment, please.",
    err_workdays: "Working days: 1 to 60.",
    err_too_large: "The file is too large (at most 20 MB).",
    err_no_meeting: "No meeting is scheduled more than an hour ahead.",
  },
};

const page = {
  digest: "",
  generation: null,
  state: null,
  visible: ["dept"],
  split: false,
  seenAnswers: 0,
  pressedIn: {}, // user id -> the chat column their last press came from
  columns: {}, // key -> {el, messages: Map(id -> {sig, el})}
  toolbarLang: storedLang(),
};

// The page's own language, kept in this browser; Chinese, the sandbox's, unless toggled.
function storedLang() {
  try { return localStorage.getItem("sandbox-ui-lang") === "en" ? "en" : "zh"; } catch (e) { return "zh"; }
}

function $(selector, root = document) { return root.querySelector(selector); }
function $$(selector, root = document) { return Array.from(root.querySelectorAll(selector)); }
function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
function person(key) { return page.state.people.find((p) => p.key === key); }
function ui(lang, name) { return (UI[lang] || UI.zh)[name]; }

async function api(path, body) {
  const options = { method: "POST" };
  if (body instanceof FormData) options.body = body;
  else { options.body = JSON.stringify(body || {}); options.headers = { "Content-Type": "application/json" }; }
  const response = await fetch(path, options);
  const answer = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  if (!response.ok || !answer.ok) {
    const said = ui(page.toolbarLang, `err_${answer.code}`) || answer.error || response.status;
    status(ui(page.toolbarLang, "failed") + said, true);
    throw new Error(answer.error || String(response.status));
  }
  return answer;
}

let statusTimer = null;
function status(text, error = false) {
  const box = $("#status");
  box.textContent = text;
  box.hidden = false;
  box.classList.toggle("error", error);
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

// ------------------------------------------------------------------ the clock

function formatTime(date, lang, tz) {
  if (lang === "en") {
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", hour12: false,
    }).format(date);
  }
  const parts = Object.fromEntries(new Intl.DateTimeFormat("zh-CN", {
    timeZone: tz, year: "numeric", month: "numeric", day: "numeric", weekday: "short",
    hour: "2-digit", minute: "2-digit", hour12: false,
  }).formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}年${parts.month}月${parts.day}日（${parts.weekday}）${parts.hour}:${parts.minute}`;
}

function tickClock() {
  if (!page.state) return;
  const { offset_ms: offset, tz } = page.state.clock;
  const now = new Date(Date.now() + offset);
  const clock = $("#clock");
  clock.textContent = formatTime(now, page.toolbarLang, tz);
  clock.dateTime = now.toISOString();
}

// ------------------------------------------------------------------ the toolbar

function renderChrome() {
  const lang = page.toolbarLang;
  for (const node of $$("[data-i18n]")) node.textContent = ui(lang, node.dataset.i18n);
  const toggle = $("[data-action=ui-lang]");
  toggle.textContent = ui(lang, "ui-lang");
  toggle.title = ui(lang, "ui-lang-label");
  toggle.setAttribute("aria-label", ui(lang, "ui-lang-label"));
  toggle.lang = lang === "en" ? "zh-CN" : "en";
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}

function renderToolbar() {
  renderChrome();
  const people = $("#people");
  for (const p of page.state.people) {
    let button = $(`[data-person="${p.key}"]`, people);
    if (!button) {
      button = el("button", { type: "button", dataset: { person: p.key } });
      button.addEventListener("click", () => choose(p.key));
      people.append(button);
    }
    const detail = roleLine(p);
    button.replaceChildren(el("span", { text: p.name }), ...(detail ? [el("small", { text: detail })] : []));
    button.setAttribute("aria-pressed", String(page.visible.includes(p.key)));
  }
  const toggle = $("[data-view=split]");
  toggle.setAttribute("aria-pressed", String(page.split));
  tickClock();
}

function roleLine(p) {
  if (p.key === "group") return "";
  return p.org === p.role ? p.org : `${p.org} · ${p.role}`;
}

function choose(key) {
  if (page.split) {
    if (!page.visible.includes(key)) page.visible = [page.visible[page.visible.length - 1], key];
  } else {
    page.visible = [key];
  }
  showColumns();
}

function showColumns() {
  const order = page.visible;
  for (const [key, column] of Object.entries(page.columns)) {
    const shown = order.includes(key);
    column.el.hidden = !shown;
    column.el.style.order = String(order.indexOf(key));
    if (shown && column.stick) scrollDown(column);
  }
  // A new entry in the history, so Back returns to whom was shown before (followHash).
  const hash = order.join(",");
  if (location.hash.slice(1) !== hash) location.hash = hash;
  if (page.state) renderToolbar();
}

// The people an address names (#clerk,agency), at most two, those the sandbox has.
function hashKeys() {
  const keys = location.hash.slice(1).split(",").filter((k) => /^[a-z]+$/.test(k));
  const known = page.state ? keys.filter((k) => k in page.state.chats) : keys;
  return [...new Set(known)].slice(0, 2);
}

// An address changed by hand, a link or the history: show whom it names.
function followHash() {
  const keys = hashKeys();
  if (!keys.length || keys.join(",") === page.visible.join(",")) return;
  page.visible = keys;
  page.split = keys.length > 1;
  if (page.state) showColumns();
}

// ------------------------------------------------------------------ a chat column

function column(key) {
  if (page.columns[key]) return page.columns[key];
  const node = $("#chat-template").content.firstElementChild.cloneNode(true);
  node.dataset.chat = key;
  // stick: the column follows new messages while its reader is at the bottom.
  const entry = { key, el: node, messages: new Map(), commandsSig: "", stick: true };
  const box = $(".messages", node);
  box.addEventListener("scroll", () => {
    if (!node.hidden) entry.stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  });
  page.columns[key] = entry;
  const form = $(".composer", node);
  const input = $(".compose", node);
  form.addEventListener("submit", (event) => { event.preventDefault(); sendText(entry); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText(entry);
    }
  });
  $(".menu-toggle", node).addEventListener("click", () => { $(".menu", node).hidden = !$(".menu", node).hidden; });
  $(".attach", node).addEventListener("change", (event) => sendFile(entry, event.target));
  const as = $(".as", node);
  if (key === "group") {
    as.hidden = false;
    for (const p of page.state.people) {
      if (p.key !== "group") as.append(el("option", { value: p.key, text: p.name }));
    }
  }
  $("#columns").append(node);
  return entry;
}

function speaker(entry) { return entry.key === "group" ? $(".as", entry.el).value : undefined; }

async function sendText(entry, text) {
  const input = $(".compose", entry.el);
  const value = text !== undefined ? text : input.value;
  if (!value.trim()) return;
  await api("/api/send", { person: entry.key, text: value, as: speaker(entry) });
  if (text === undefined) input.value = "";
  $(".menu", entry.el).hidden = true;
}

async function sendFile(entry, input) {
  const file = input.files && input.files[0];
  if (!file) return;
  const form = new FormData();
  form.append("person", entry.key);
  form.append("file", file, file.name);
  const caption = $(".compose", entry.el);
  form.append("caption", caption.value);
  const as = speaker(entry);
  if (as) form.append("as", as);
  try {
    await api("/api/upload", form);
    caption.value = "";
  } finally {
    input.value = "";
  }
}

function renderColumn(key, chat, p) {
  const entry = column(key);
  const lang = p.lang;
  $(".chat-name", entry.el).textContent = p.name;
  $(".chat-role", entry.el).textContent = roleLine(p);
  $(".send", entry.el).textContent = ui(lang, "send");
  $(".compose", entry.el).placeholder = ui(lang, "placeholder");
  $(".as", entry.el).title = ui(lang, "as");
  const box = $(".messages", entry.el);
  const seen = new Set();
  let previous = null;
  for (const message of chat.messages) {
    seen.add(message.id);
    const sig = JSON.stringify(message) + lang;
    const known = entry.messages.get(message.id);
    let node = known && known.el;
    if (!known || known.sig !== sig) {
      const fresh = renderMessage(entry, message, lang);
      if (node) node.replaceWith(fresh); else if (previous) previous.after(fresh); else box.prepend(fresh);
      node = fresh;
      entry.messages.set(message.id, { sig, el: node });
    }
    previous = node;
  }
  for (const [id, known] of entry.messages) {
    if (!seen.has(id)) { known.el.remove(); entry.messages.delete(id); }
  }
  renderMenu(entry, chat.commands, lang);
  if (entry.stick) scrollDown(entry);
}

function scrollDown(entry) {
  const box = $(".messages", entry.el);
  const down = () => { box.scrollTop = box.scrollHeight; };
  down();
  // Again once laid out and once the fonts are in: both change the height.
  requestAnimationFrame(down);
  if (document.fonts) document.fonts.ready.then(down);
}

function renderMessage(entry, message, lang) {
  const classes = ["msg", message.bot ? "bot" : "me"];
  if (message.service) classes.push("service");
  const node = el("div", { class: classes.join(" "), dataset: { id: String(message.id) } });
  if (entry.key === "group" && !message.bot && !message.service) {
    node.append(el("div", { class: "sender", text: message.sender }));
  }
  if (message.reply_to) node.append(el("div", { class: "reply", text: message.reply_to }));
  if (message.file) node.append(renderFile(message.file, lang));
  const text = el("div", { class: "text" });
  text.innerHTML = message.html; // made safe by the server: every other character is escaped
  for (const spoiler of $$(".spoiler", text)) spoiler.addEventListener("click", () => spoiler.classList.add("shown"));
  for (const link of $$("a[href]", text)) {
    if (deepLink(link.href) === null) continue;
    link.addEventListener("click", (event) => { event.preventDefault(); openLink(entry, link.href); });
  }
  if (message.html) node.append(text);
  if (message.keyboard) {
    const keyboard = el("div", { class: "keyboard" });
    message.keyboard.forEach((row, r) => {
      const line = el("div", { class: "kb-row" });
      row.forEach((button, c) => {
        const b = el("button", { type: "button", class: `kb ${button.kind}`, text: button.text, title: button.text });
        b.addEventListener("click", () => press(entry, message, button, r, c));
        line.append(b);
      });
      keyboard.append(line);
    });
    node.append(keyboard);
  }
  if (!message.service) {
    const when = new Intl.DateTimeFormat("en-GB", {
      timeZone: page.state.clock.tz, hour: "2-digit", minute: "2-digit", hour12: false,
    }).format(new Date(message.date * 1000));
    node.append(el("div", { class: "meta", text: message.edited ? `${ui(lang, "edited")} ${when}` : when }));
  }
  return node;
}

// 10字节 / 10 bytes; 2.1 KB, 15 KB, 3.4 MB in both languages.
function formatSize(size, lang) {
  if (size < 1024) return `${size}${ui(lang, "bytes")}`;
  const [value, unit] = size < 1024 * 1024 ? [size / 1024, "KB"] : [size / (1024 * 1024), "MB"];
  const shown = value < 10 ? value.toFixed(1).replace(/\.0$/, "") : String(Math.round(value));
  return `${shown} ${unit}`;
}

function renderFile(file, lang) {
  const box = el("div", { class: "file" });
  const href = `/files/${encodeURIComponent(file.id)}`;
  if (file.kind === "photo") {
    const link = el("a", { href, target: "_blank", rel: "noopener" }, [el("img", { src: href, alt: "photo" })]);
    box.append(link);
  } else {
    const size = formatSize(file.size, lang);
    const name = file.name;
    const label = lang === "en" ? `📄 ${name} (${size})` : `📄 ${name}（${size}）`;
    box.append(el("a", { href, download: name, class: "download", text: label }));
    if (/\.(ics|txt|csv)$/i.test(name)) {
      box.append(document.createTextNode(" "));
      box.append(el("a", { href: `${href}?inline=1`, target: "_blank", rel: "noopener", text: "↗" }));
    }
  }
  return box;
}

// A link to the bot with a start parameter (t.me/<bot>?start=...) opens the person's chat
// with the bot and sends /start with it, as Telegram does; nothing goes to the internet.
function deepLink(url) {
  const name = page.state.bot_username.replace(/[^A-Za-z0-9_]/g, "");
  const match = new RegExp(`^https?://t\\.me/${name}\\?start=([A-Za-z0-9_-]{1,64})$`, "i").exec(url);
  return match ? match[1] : null;
}

async function openLink(entry, url) {
  const payload = deepLink(url);
  if (payload === null) {
    window.open(url, "_blank", "noopener");
    return;
  }
  const actor = entry.key === "group" ? speaker(entry) : entry.key;
  if (!page.visible.includes(actor)) choose(actor);
  await api("/api/send", { person: actor, text: `/start ${payload}` });
}

async function press(entry, message, button, row, col) {
  if (button.kind === "url") {
    await openLink(entry, button.url);
    return;
  }
  const actor = entry.key === "group" ? person(speaker(entry)) : person(entry.key);
  page.pressedIn[actor.user_id] = entry.key;
  await api("/api/press", { person: entry.key, message_id: message.id, row, column: col, as: speaker(entry) });
}

function renderMenu(entry, commands, lang) {
  const sig = JSON.stringify(commands) + lang;
  if (sig === entry.commandsSig) return;
  entry.commandsSig = sig;
  const menu = $(".menu", entry.el);
  menu.replaceChildren();
  if (!commands.length) menu.append(el("div", { class: "empty", text: ui(lang, "noCommands") }));
  for (const command of commands) {
    const b = el("button", { type: "button", dataset: { command: command.command } }, [
      el("b", { text: `/${command.command}` }), document.createTextNode(command.description),
    ]);
    b.addEventListener("click", () => sendText(entry, `/${command.command}`));
    menu.append(b);
  }
}

// ------------------------------------------------------------------ answers to presses

function showAnswers(answers) {
  for (const answer of answers.slice(page.seenAnswers)) {
    const who = page.state.people.find((p) => p.user_id === answer.user_id);
    const key = page.pressedIn[answer.user_id] || (who && who.key);
    if (key && page.columns[key]) toast(page.columns[key], answer.text, answer.show_alert);
  }
  page.seenAnswers = answers.length;
}

function toast(entry, text, alert) {
  const box = $(".toast", entry.el);
  box.textContent = text;
  box.classList.toggle("alert", Boolean(alert));
  box.hidden = false;
  clearTimeout(box._timer);
  box._timer = setTimeout(() => { box.hidden = true; }, alert ? 6000 : 3000);
  box.onclick = () => { box.hidden = true; };
}

// ------------------------------------------------------------------ state

function render(state) {
  const fresh = state.generation !== page.generation;
  page.state = state;
  if (fresh) {
    // A reset: new chats whose message ids start again.
    for (const entry of Object.values(page.columns)) entry.el.remove();
    page.columns = {};
    page.pressedIn = {};
    page.seenAnswers = state.answers.length;
    page.generation = state.generation;
    // Columns named in the address that do not exist are left out.
    page.visible = page.visible.filter((key) => key in state.chats);
    if (!page.visible.length) page.visible = ["dept"];
    page.split = page.visible.length > 1;
  }
  for (const p of state.people) renderColumn(p.key, state.chats[p.key], p);
  if (fresh) showColumns();
  showAnswers(state.answers);
  renderToolbar();
}

async function poll() {
  for (;;) {
    try {
      const response = await fetch(`/api/state?since=${encodeURIComponent(page.digest)}`);
      if (!response.ok) throw new Error(String(response.status));
      const state = await response.json();
      page.digest = state.digest;
      render(state);
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function setUp() {
  // A refused action was said in the status line already (api()).
  window.addEventListener("unhandledrejection", (event) => event.preventDefault());
  const keys = hashKeys();
  if (keys.length) { page.visible = keys; page.split = keys.length > 1; }
  window.addEventListener("hashchange", followHash);
  $("[data-action=ui-lang]").addEventListener("click", () => {
    page.toolbarLang = page.toolbarLang === "en" ? "zh" : "en";
    try { localStorage.setItem("sandbox-ui-lang", page.toolbarLang); } catch (e) { /* private mode */ }
    if (page.state) renderToolbar(); else renderChrome();
  });
  $("[data-action=time-controls]").addEventListener("click", (event) => {
    const open = $("#toolbar").classList.toggle("open");
    event.currentTarget.setAttribute("aria-expanded", String(open));
  });
  $("[data-view=split]").addEventListener("click", () => {
    page.split = !page.split;
    if (!page.split) page.visible = [page.visible[page.visible.length - 1]];
    else if (page.visible.length < 2) {
      const other = ["dept", "clerk", "group"].find((k) => !page.visible.includes(k));
      page.visible = [...page.visible, other];
    }
    showColumns();
  });
  for (const button of $$("[data-time]")) {
    button.addEventListener("click", async () => {
      const workdays = Number($("input[name=workdays]").value || 1);
      const answer = await api("/api/time", { action: button.dataset.time, workdays });
      const tz = page.state ? page.state.clock.tz : "Asia/Shanghai";
      status(`${ui(page.toolbarLang, "jumped")} ${formatTime(new Date(answer.now), page.toolbarLang, tz)}`);
    });
  }
  $("[data-action=reset]").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    status(ui(page.toolbarLang, "resetting"));
    try {
      await api("/api/reset", {});
      status(ui(page.toolbarLang, "resetDone"));
    } finally {
      button.disabled = false;
    }
  });
  renderChrome();
  setInterval(tickClock, 1000);
  poll();
}

setUp();
