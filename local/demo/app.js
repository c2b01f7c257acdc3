// The demo page: log in as a demo user, upload with a progress bar, watch each upload being
// verified (awaiting upload -> verifying -> clean, or rejected with the reason in plain words),
// list and download verified files, show public images. The API calls go through
// filegate-client.js (the part to copy).
import {
  describeError, describeStatus, downloadUrl, uploadFile, waitForVerification,
} from "./filegate-client.js";

const $ = (id) => document.getElementById(id);
const state = { config: null, user: null, token: null, session: 0 };

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
  for (const id of ["upload", "files", "public"]) $(id).hidden = false;
  $("upload-error").textContent = "";
  $("upload-status").textContent = "";
  $("verifications").replaceChildren();
  state.session += 1;  // uploads of the previous user stop updating the page
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
      item.append(" ", downloadButton(key));
      await refreshFiles();
    } else {
      item.classList.add("rejected");
    }
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

async function refreshFiles() {
  $("files-error").textContent = "";
  let response;
  try {
    response = await fetch(`${state.config.api}/local/files`, {
      headers: { Authorization: `Bearer ${state.token}` },
    });
  } catch (error) {
    $("files-error").textContent = `Could not list files (${error}).`;
    return;
  }
  if (!response.ok) {
    $("files-error").textContent = `Could not list files (${response.status}).`;
    return;
  }
  const { files } = await response.json();
  const own = files.filter((file) => !file.public);
  $("file-list").replaceChildren(...own.map((file) => {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = file.key;
    name.append(code);
    const kind = document.createElement("td");
    kind.textContent = file.rule;
    const size = document.createElement("td");
    size.textContent = formatSize(file.size);
    const action = document.createElement("td");
    action.append(downloadButton(file.key));
    row.append(name, kind, size, action);
    return row;
  }));
  if (own.length === 0) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 4;
    cell.textContent = "No files yet.";
    row.append(cell);
    $("file-list").replaceChildren(row);
  }
  const images = files.filter((file) => file.public && /\.(png|jpe?g|webp|gif)$/.test(file.key));
  $("gallery").replaceChildren(...images.map((file) => {
    const img = document.createElement("img");
    img.src = `${state.config.edge}/${file.key.split("/").map(encodeURIComponent).join("/")}`;
    img.alt = file.key;
    return img;
  }));
  if (images.length === 0) $("gallery").textContent = "No public images yet (log in as Mia to add one).";
}

async function main() {
  state.config = await (await fetch("config.json")).json();
  $("user").replaceChildren(...state.config.users.map((user) => new Option(user.label, user.id)));
  $("login-button").addEventListener("click", login);
  $("upload-button").addEventListener("click", upload);
  $("refresh-button").addEventListener("click", refreshFiles);
  $("rule").addEventListener("change", showRuleHelp);
  document.body.dataset.ready = "true";
}

main();
