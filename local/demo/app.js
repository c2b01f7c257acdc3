// The demo page: log in as a demo user, upload with a progress bar, watch each upload being
// verified (awaiting upload -> verifying -> clean, or rejected with the reason in plain words),
// list your files a page at a time (GET /files), download verified ones, delete them, show
// public images, and get signed cookies for a whole folder so that plain links open the files.
// The API calls go through filegate-client.js (the part to copy), all to config.api: the front
// door on the edge (`<edge>/api`), the same origin as the files.
import {
  deleteFile, describeError, describeReason, describeStatus, downloadCookies, downloadUrl, fileUrl, listFiles,
  uploadFile, waitForVerification,
} from "./filegate-client.js";

const $ = (id) => document.getElementById(id);
// cookiePrefixes: the prefixes this browser holds signed cookies for (set by the API, HttpOnly).
const state = { config: null, user: null, token: null, session: 0, cookiePrefixes: [] };

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function rulesFor(user, action) {
  return state.config.rules.filter(
    (rule) => rule.actions.includes(action) && rule.groups.some((group) => user.groups.includes(group)),
  );
}

async function login() {
  const user = state.config.users.find((candidate) => candidate.id === $("user").value);
  const response = await fetch(`${state.config.issuer}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sub: user.sub, groups: user.groups, org_id: user.org_id }),
  });
  state.token = (await response.json()).access_token;
  state.user = user;
  $("whoami").textContent = `Logged in as ${user.label}.`;
  const rules = rulesFor(user, "upload");
  $("rule").replaceChildren(...rules.map((rule) => new Option(rule.name, rule.name)));
  showRuleHelp();
  for (const id of ["upload", "files", "cookies", "public"]) $(id).hidden = false;
  state.cookiePrefixes = [];
  $("cookie-prefix").replaceChildren(...ownPrefixes(user).map((prefix) => new Option(prefix, prefix)));
  $("cookies-button").disabled = $("cookie-prefix").options.length === 0;
  $("cookies-status").textContent = "";
  $("cookies-error").textContent = "";
  $("upload-error").textContent = "";
  $("upload-status").textContent = "";
  $("verifications").replaceChildren();
  $("files-status").textContent = "";
  const visible = state.config.rules.filter((rule) => rule.groups.some((group) => user.groups.includes(group)));
  $("list-rule").replaceChildren(new Option("All kinds", ""), ...visible.map((rule) => new Option(rule.name, rule.name)));
  state.session += 1;  // uploads of the previous user stop updating the page
  resetPaging();
  await refreshFiles();
}

function currentRule() {
  return state.config.rules.find((rule) => rule.name === $("rule").value);
}

function showRuleHelp() {
  const rule = currentRule();
  $("rule-help").textContent = rule
    ? `Accepts ${rule.content_types.join(", ")}; at most ${formatSize(rule.max_bytes)}.`
    : "This user may not upload anything.";
}

async function upload() {
  const file = $("file").files[0];
  const rule = currentRule();
  $("upload-error").textContent = "";
  $("upload-status").textContent = "";
  $("progress").value = 0;
  if (!file || !rule) {
    $("upload-error").textContent = file ? "Choose a kind of file first." : "Choose a file first.";
    return;
  }
  $("upload-button").disabled = true;
  $("upload-status").textContent = `Uploading ${file.name} ...`;
  try {
    const { key, fileId } = await uploadFile({
      apiUrl: state.config.api,
      token: state.token,
      rule: rule.name,
      file,
      onProgress: (fraction) => { $("progress").value = Math.round(fraction * 100); },
    });
    $("upload-status").textContent = `Uploaded ${file.name}; it is checked before anyone can download it.`;
    track({ fileId, key, filename: file.name });
  } catch (error) {
    $("upload-status").textContent = "";
    $("upload-error").textContent = describeError(error, { maxBytes: rule.max_bytes });
  } finally {
    $("upload-button").disabled = false;
  }
}

function downloadButton(key) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary download";
  button.textContent = "Download";
  button.dataset.key = key;
  button.addEventListener("click", () => download(key));
  return button;
}

// One line per upload of this session, updated live from GET /files/{id}; Download appears only
// once the file is clean.
async function track({ fileId, key, filename }) {
  const session = state.session;
  const item = document.createElement("li");
  item.dataset.fileId = fileId;
  item.dataset.key = key;
  item.dataset.status = "awaiting_upload";
  const text = document.createElement("span");
  text.className = "status-text";
  item.append(text);
  $("verifications").prepend(item);
  const show = (record) => {
    if (session !== state.session) return;
    item.dataset.status = record.status;
    text.textContent = describeStatus({ filename, ...record });
    $("upload-status").textContent = text.textContent;
  };
  show({ status: "awaiting_upload" });
  try {
    const record = await waitForVerification({
      apiUrl: state.config.api, token: state.token, fileId, onStatus: show, intervalMs: 300,
    });
    if (session !== state.session) return;
    if (record.status === "clean") {
      const rule = ruleNamed(record.rule);
      if (!rule || rule.actions.includes("download")) item.append(" ", downloadButton(key));
    } else {
      item.classList.add("rejected");
    }
    resetPaging();  // newest first: the file is on the first page
    await refreshFiles();
  } catch (error) {
    if (session !== state.session) return;
    text.textContent = `${filename}: ${describeError(error)}`;
  }
}

async function download(key) {
  $("files-error").textContent = "";
  try {
    const url = await downloadUrl({ apiUrl: state.config.api, token: state.token, key });
    window.location.assign(url);
  } catch (error) {
    $("files-error").textContent = describeError(error);
  }
}

// 10 files a page; `?page_size=` (1 to 100) changes it, e.g. to see the paging with a few files.
const PAGE_SIZE = Math.min(100, Math.max(1, Number(new URLSearchParams(window.location.search).get("page_size")) || 10));
// Paging: the cursors of the pages seen so far (the first page has none), and where we are.
const paging = { cursors: [null], index: 0, next: null };

function resetPaging() {
  paging.cursors = [null];
  paging.index = 0;
  paging.next = null;
}

/** The status in plain words, with the rejection reason. */
function statusWords(record) {
  switch (record.status) {
    case "clean":
      return "Verified";
    case "verifying":
      return "Being checked";
    case "awaiting_upload":
      return "Waiting for the upload";
    case "rejected":
      return `Rejected: ${describeReason(record.reason)}`;
    default:
      return record.status;
  }
}

function ruleNamed(name) {
  return state.config.rules.find((rule) => rule.name === name);
}

function publicUrl(key) {
  return fileUrl({ filesUrl: state.config.edge, key });
}

// The folders a user owns, from the rules they may download under: each rule's key template up to
// the owner's segment ({sub} or {org_id}), e.g. private/users/<sub>/.
function ownPrefixes(user) {
  const prefixes = new Set();
  for (const rule of rulesFor(user, "download")) {
    const segments = rule.key_template.split("/");
    const owner = segments.findIndex((segment) => segment === "{sub}" || segment === "{org_id}");
    if (owner < 0) continue;
    const value = segments[owner] === "{sub}" ? user.sub : user.org_id;
    if (!value) continue;
    prefixes.add(`${[...segments.slice(0, owner), value].join("/")}/`);
  }
  return [...prefixes];
}

function coveredByCookies(key) {
  return state.cookiePrefixes.some((prefix) => key.startsWith(prefix));
}

// POST {api}/downloads/cookies with credentials: the API sets the cookies on the edge's host, and
// the browser sends them with every request under the prefix: plain links work from then on.
async function getCookies() {
  const prefix = $("cookie-prefix").value;
  $("cookies-status").textContent = "";
  $("cookies-error").textContent = "";
  try {
    const { expiresAt } = await downloadCookies({ apiUrl: state.config.api, token: state.token, prefix });
    if (!state.cookiePrefixes.includes(prefix)) state.cookiePrefixes.push(prefix);
    $("cookies-status").textContent = `This browser now holds signed cookies for ${prefix} until `
      + `${new Date(expiresAt * 1000).toLocaleString()}: the "Open" links below need no signature.`;
    $("cookies-status").dataset.prefix = prefix;
    await refreshFiles();
  } catch (error) {
    $("cookies-error").textContent = describeError(error);
  }
}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function deleteButton(record) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary delete";
  button.textContent = "Delete";
  button.dataset.fileId = record.file_id;
  button.setAttribute("aria-label", `Delete ${record.filename || record.key}`);
  button.addEventListener("click", () => remove(record, button));
  return button;
}

function fileRow(record) {
  const rule = ruleNamed(record.rule);
  const actions = rule ? rule.actions : [];
  const name = record.filename || record.key.split("/").pop();
  const row = document.createElement("tr");
  row.dataset.fileId = record.file_id;
  row.dataset.status = record.status;
  const title = document.createElement("span");
  title.className = "filename";
  title.textContent = name;
  const key = document.createElement("code");
  key.textContent = record.key;
  const date = document.createElement("time");
  const created = new Date(record.created_at * 1000);
  date.dateTime = created.toISOString();
  date.textContent = created.toLocaleString();
  const status = document.createElement("span");
  status.className = `status ${record.status}`;
  status.textContent = statusWords(record);
  const buttons = [];
  if (record.status === "clean" && actions.includes("download")) {
    const button = downloadButton(record.key);
    button.setAttribute("aria-label", `Download ${name}`);
    buttons.push(button);
  }
  if (record.status === "clean" && record.key.startsWith("public/")) {
    const link = document.createElement("a");
    link.href = publicUrl(record.key);
    link.textContent = "Open";
    link.setAttribute("aria-label", `Open ${name} (public)`);
    buttons.push(link);
  } else if (record.status === "clean" && coveredByCookies(record.key)) {
    // A plain URL: the signed cookies for the folder authorize it at the edge.
    const link = document.createElement("a");
    link.href = fileUrl({ filesUrl: state.config.edge, key: record.key });
    link.className = "open-with-cookies";
    link.dataset.key = record.key;
    link.textContent = "Open";
    link.setAttribute("aria-label", `Open ${name} (with the folder's cookies)`);
    buttons.push(link);
  }
  if (actions.includes("delete") && record.status !== "verifying") buttons.push(deleteButton(record));
  row.append(cell(title, document.createElement("br"), key), cell(record.rule), cell(status),
    cell(formatSize(record.size)), cell(date), cell(...buttons));
  return row;
}

// Delete one file (after the user confirms), then show the list again.
async function remove(record, button) {
  const name = record.filename || record.key;
  $("files-error").textContent = "";
  if (!window.confirm(`Delete ${name}? It cannot be undone.`)) return;
  button.disabled = true;
  try {
    await deleteFile({ apiUrl: state.config.api, token: state.token, fileId: record.file_id });
  } catch (error) {
    if (error.code !== "not_found") {  // already gone: the list is simply out of date
      $("files-error").textContent = describeError(error, { action: "delete" });
      button.disabled = false;
      return;
    }
  }
  $("files-status").textContent = `${name} was deleted.`;
  const tracked = document.querySelector(`#verifications li[data-file-id="${CSS.escape(record.file_id)}"]`);
  if (tracked) {
    tracked.dataset.status = "deleted";
    tracked.querySelector(".status-text").textContent = `${name} was deleted.`;
    for (const old of tracked.querySelectorAll("button")) old.remove();
  }
  await refreshFiles();
}

async function refreshFiles() {
  $("files-error").textContent = "";
  const session = state.session;
  let page;
  try {
    page = await listFiles({
      apiUrl: state.config.api,
      token: state.token,
      rule: $("list-rule").value || undefined,
      limit: PAGE_SIZE,
      cursor: paging.cursors[paging.index],
    });
  } catch (error) {
    if (session !== state.session) return;
    $("files-error").textContent = `Could not list your files: ${describeError(error)}`;
    return;
  }
  if (session !== state.session) return;
  paging.next = page.nextCursor;
  $("file-list").replaceChildren(...page.files.map(fileRow));
  if (page.files.length === 0) {
    const row = document.createElement("tr");
    const empty = cell(paging.index === 0 ? "No files yet." : "No more files.");
    empty.colSpan = 6;
    row.append(empty);
    $("file-list").replaceChildren(row);
  }
  $("previous-page").disabled = paging.index === 0;
  $("next-page").disabled = !paging.next;
  $("page-number").textContent = `Page ${paging.index + 1}`;
  // Public images: the marketing user's own files, served by the edge without a signature.
  const images = page.files.filter((record) => record.status === "clean" && record.key.startsWith("public/")
    && /\.(png|jpe?g|webp)$/.test(record.key));
  $("gallery").replaceChildren(...images.map((record) => {
    const img = document.createElement("img");
    img.src = publicUrl(record.key);
    img.alt = record.filename || record.key;
    return img;
  }));
  if (images.length === 0) $("gallery").textContent = "No public images on this page (log in as Mia to add one).";
}

async function nextPage() {
  if (!paging.next) return;
  paging.cursors = paging.cursors.slice(0, paging.index + 1).concat(paging.next);
  paging.index += 1;
  await refreshFiles();
}

async function previousPage() {
  if (paging.index === 0) return;
  paging.index -= 1;
  await refreshFiles();
}

async function main() {
  state.config = await (await fetch("config.json")).json();
  $("user").replaceChildren(...state.config.users.map((user) => new Option(user.label, user.id)));
  $("login-button").addEventListener("click", login);
  $("upload-button").addEventListener("click", upload);
  $("refresh-button").addEventListener("click", refreshFiles);
  $("next-page").addEventListener("click", nextPage);
  $("previous-page").addEventListener("click", previousPage);
  $("list-rule").addEventListener("change", () => { resetPaging(); refreshFiles(); });
  $("rule").addEventListener("change", showRuleHelp);
  $("cookies-button").addEventListener("click", getCookies);
  document.body.dataset.ready = "true";
}

main();
