// Uppy example: @uppy/core with @uppy/aws-s3 (v6), signing through filegate.
//
// filegate chooses every key itself and pins it (with the type, the size range and a short expiry)
// in a presigned POST policy, so the AwsS3 plugin gets a `signRequest` that asks POST /uploads for
// that policy and hands back its `url` and `fields`: the plugin then POSTs the form (fields first,
// the file last) straight to the bucket. Single-request uploads only (`shouldUseMultipart: false`):
// a presigned POST has no multipart form. After the upload, GET /files/{id} is polled until the
// file is verified ("clean") or rejected.
//
// This file is bundled for the browser by esbuild (see the Makefile's demo bundle); the page loads
// build/uppy.js.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";
import {
  FilegateError, describeError, describeStatus, mintUpload, waitForVerification,
} from "./filegate-client.js";

const $ = (id) => document.getElementById(id);
const state = { config: null, user: null, token: null, session: 0 };
// What POST /uploads minted, by Uppy file id: the file's filegate id and final key.
const minted = new Map();

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function currentRule() {
  return state.config.rules.find((rule) => rule.name === $("rule").value);
}

function showRuleHelp() {
  const rule = currentRule();
  $("rule-help").textContent = rule
    ? `Accepts ${rule.content_types.join(", ")}; at most ${formatSize(rule.max_bytes)}.`
    : "This user may not upload anything.";
  // Uppy refuses what the rule would refuse before anything is sent (filegate checks again).
  uppy.setOptions({
    restrictions: rule ? { maxFileSize: rule.max_bytes, allowedFileTypes: rule.content_types } : {},
  });
}

/**
 * The AwsS3 plugin's signer. Uppy asks to sign a PutObject for `request.key` (our generateObjectKey
 * makes that the Uppy file id); filegate answers with a presigned POST for a key of its own, so we
 * return its `fields` (which hold that key): the plugin then POSTs the form instead of a PUT.
 */
async function signRequest(request) {
  if (request.method !== "PUT" || request.uploadId) {
    throw new FilegateError("unsupported", "filegate uploads are single presigned POSTs (no multipart)", 0);
  }
  const file = uppy.getFile(request.key);
  if (!file) throw new FilegateError("aborted", "the file was removed", 0);
  const known = minted.get(file.id);
  // A retry of the same file within the POST's lifetime reuses what was minted.
  if (known && known.expiresAt * 1000 > Date.now() + 60_000) return { url: known.url, fields: known.fields };
  const upload = await mintUpload({
    apiUrl: state.config.api,
    token: state.token,
    rule: file.meta.rule,
    file: { name: file.name, type: file.type, size: file.size },
  });
  minted.set(file.id, upload);
  itemFor(file).dataset.fileId = upload.fileId;
  itemFor(file).dataset.key = upload.key;
  return { url: upload.url, fields: upload.fields };
}

const uppy = new Uppy({ autoProceed: false, allowMultipleUploadBatches: true });
uppy.use(AwsS3, {
  shouldUseMultipart: false,
  limit: 2,
  allowedMetaFields: false,  // filegate's policy admits exactly its own fields
  generateObjectKey: (file) => file.id,
  signRequest,
});

// One line per file, by Uppy file id.
const items = new Map();

function itemFor(file) {
  let item = items.get(file.id);
  if (!item) {
    item = document.createElement("li");
    item.dataset.status = "queued";
    item.dataset.filename = file.name;
    const text = document.createElement("span");
    text.className = "status-text";
    item.append(text);
    $("uppy-files").prepend(item);
    items.set(file.id, item);
  }
  return item;
}

function show(file, status, words) {
  const item = itemFor(file);
  item.dataset.status = status;
  item.querySelector(".status-text").textContent = words;
}

function s3Code(error) {
  // @uppy/aws-s3 reports S3's refusals with the S3 error code as `serviceCode`
  if (error && error.serviceCode) return { code: `s3:${error.serviceCode}`, message: error.message };
  if (error && error.name === "S3NetworkError") return { code: "network", message: error.message };
  return error;
}

// Bytes sent and to send, by Uppy file id, for this batch's progress bar (Uppy's own total
// forgets the files this page removes once they are uploaded).
const batch = new Map();

function showProgress(file, bytesUploaded, bytesTotal) {
  batch.set(file.id, [bytesUploaded, bytesTotal]);
  const [sent, total] = [...batch.values()].reduce(([a, b], [c, d]) => [a + c, b + d], [0, 0]);
  $("progress").value = total ? Math.round((sent / total) * 100) : 0;
}

uppy.on("upload-progress", (file, progress) => {
  if (!progress.bytesTotal) return;
  const percent = Math.round((progress.bytesUploaded / progress.bytesTotal) * 100);
  show(file, "uploading", `${file.name}: uploading, ${percent}% ...`);
  showProgress(file, progress.bytesUploaded, progress.bytesTotal);
});

uppy.on("upload-error", (file, error) => {
  if (!file) return;
  const rule = state.config.rules.find((candidate) => candidate.name === file.meta.rule);
  show(file, "failed", `${file.name}: ${describeError(s3Code(error), { maxBytes: rule && rule.max_bytes })}`);
  forget(file);
});

// Done with Uppy (uploaded or failed): the same file may be chosen again.
function forget(file) {
  if (uppy.getFile(file.id)) uppy.removeFile(file.id);
  minted.delete(file.id);
  items.delete(file.id);
}

uppy.on("upload-success", async (file) => {
  const session = state.session;
  const upload = minted.get(file.id);
  const item = itemFor(file);
  showProgress(file, file.size, file.size);
  forget(file);
  const text = item.querySelector(".status-text");
  const onStatus = (record) => {
    if (session !== state.session) return;
    item.dataset.status = record.status;
    text.textContent = describeStatus({ ...record, filename: file.name });
  };
  onStatus({ status: "awaiting_upload" });
  try {
    await waitForVerification({
      apiUrl: state.config.api, token: state.token, fileId: upload.fileId, onStatus, intervalMs: 300,
    });
  } catch (error) {
    if (session === state.session) text.textContent = `${file.name}: ${describeError(error)}`;
  }
});

async function login() {
  const user = state.config.users.find((candidate) => candidate.id === $("user").value);
  const response = await fetch(`${state.config.issuer}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sub: user.sub, groups: user.groups, org_id: user.org_id }),
  });
  state.token = (await response.json()).access_token;
  state.user = user;
  state.session += 1;  // uploads of the previous user stop updating the page
  uppy.cancelAll();
  minted.clear();
  items.clear();
  $("whoami").textContent = `Logged in as ${user.label}.`;
  const rules = state.config.rules.filter(
    (rule) => rule.actions.includes("upload") && rule.groups.some((group) => user.groups.includes(group)),
  );
  $("rule").replaceChildren(...rules.map((rule) => new Option(rule.name, rule.name)));
  showRuleHelp();
  $("upload").hidden = false;
  $("upload-error").textContent = "";
  $("uppy-files").replaceChildren();
}

async function upload() {
  const rule = currentRule();
  const chosen = Array.from($("file").files);
  $("upload-error").textContent = "";
  $("progress").value = 0;
  if (!rule || chosen.length === 0) {
    $("upload-error").textContent = rule ? "Choose a file first." : "Choose a kind of file first.";
    return;
  }
  const refused = [];
  for (const data of chosen) {
    try {
      uppy.addFile({ name: data.name, type: data.type, data, source: "file input", meta: { rule: rule.name } });
    } catch (error) {  // Uppy's restrictions: the same limits as the rule
      refused.push(`${data.name}: ${error.message}`);
    }
  }
  $("file").value = "";
  if (refused.length) $("upload-error").textContent = refused.join(" ");
  if (uppy.getFiles().length === 0) return;
  $("upload-button").disabled = true;
  batch.clear();
  try {
    await uppy.upload();
  } finally {
    $("upload-button").disabled = false;
  }
}

async function main() {
  state.config = await (await fetch("config.json")).json();
  $("user").replaceChildren(...state.config.users.map((user) => new Option(user.label, user.id)));
  $("login-button").addEventListener("click", login);
  $("upload-button").addEventListener("click", upload);
  $("rule").addEventListener("change", showRuleHelp);
  document.body.dataset.uppy = Uppy.VERSION;
  document.body.dataset.awsS3 = AwsS3.VERSION;
  document.body.dataset.ready = "true";
}

main();
