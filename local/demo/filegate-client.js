/**
 * filegate browser client: upload straight to S3 with a presigned POST, download through
 * CloudFront with a signed URL. No dependencies; copy this file into your frontend.
 *
 *   import { uploadFile, downloadUrl, describeError } from "./filegate-client.js";
 *
 *   const { key, fileId } = await uploadFile({
 *     apiUrl: "https://files.example.com/api", token, rule: "cv", file,   // file: a File from <input type=file>
 *     onProgress: (fraction) => { progress.value = fraction * 100; },
 *   });
 *   // Every upload is checked before anyone can fetch it: wait for the verdict.
 *   const record = await waitForVerification({ apiUrl, token, fileId,
 *     onStatus: (record) => { status.textContent = describeStatus(record); } });
 *   if (record.status === "clean") {
 *     const url = await downloadUrl({ apiUrl, token, key });       // then: location.assign(url)
 *   }
 *   // An upload library that POSTs the form itself (Uppy's AwsS3 plugin: see uppy.js) takes
 *   // mintUpload({ apiUrl, token, rule, file }) -> { url, fields, key, fileId, ... } instead.
 *
 * `apiUrl` is the front door: `https://<files domain>/api`, the same origin as the files (the API
 * is served behind the files' CloudFront distribution and its firewall).
 *
 * Cookies for a whole folder instead of one URL per file: the API sets CloudFront's signed cookies
 * (HttpOnly, Secure, SameSite=Lax, Path = the prefix) on the files domain; the browser then sends
 * them with every request for a file under the prefix, so plain links work:
 *
 *   await downloadCookies({ apiUrl, token, prefix: "private/users/<sub>/" });
 *   img.src = fileUrl({ filesUrl: "https://<files domain>", key });   // no signature in the URL
 *
 * Your files, newest first, a page at a time (GET /files), and deleting one (DELETE /files/{id}):
 *
 *   let cursor = null;
 *   do {
 *     const { files, nextCursor } = await listFiles({ apiUrl, token, rule: "cv", limit: 20, cursor });
 *     // files: records as fileStatus returns them
 *     cursor = nextCursor;
 *   } while (cursor);
 *   await deleteFile({ apiUrl, token, fileId });   // safe to repeat: a retry answers 204 too
 *
 * A file's status (GET /files/{fileId}) moves one way: "awaiting_upload" -> "verifying" ->
 * "clean" (downloadable) or "rejected" (with a `reason`: "type_mismatch", "size_mismatch",
 * "active_content", "malware", "scan_failed", "unsupported"). describeStatus(record) says it in
 * plain words; a download asked for too early is refused with "not_ready", a rejected one with
 * "rejected".
 *
 * Errors are thrown as FilegateError with a stable `code`: the API's error codes
 * ("payload_too_large", "unsupported_media_type", "not_allowed", "unauthenticated", "not_ready",
 * "rejected", "not_found", "quota_exceeded", ...; and the firewall's "request_blocked",
 * "request_too_large", "rate_limited"), or "s3:<S3 error code>" when S3 refused the
 * upload (e.g. "s3:EntityTooLarge"), or "network" / "timeout". describeError(error) turns one into
 * a sentence.
 */

export class FilegateError extends Error {
  /**
   * @param {string} code stable error code
   * @param {string} message the server's message (for developers)
   * @param {number} status HTTP status, 0 for network errors
   */
  constructor(code, message, status) {
    super(message);
    this.name = "FilegateError";
    this.code = code;
    this.status = status;
  }
}

async function callApi(apiUrl, token, path, body, method = "POST", { credentials } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  const init = { method, headers };
  if (credentials) init.credentials = credentials;
  if (body !== null && body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${apiUrl}${path}`, init);
  } catch (error) {
    throw new FilegateError("network", String(error), 0);
  }
  let payload = null;
  if (response.status !== 204) {
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
  }
  if (!response.ok) {
    if (payload && payload.error) {
      throw new FilegateError(payload.error.code, payload.error.message, response.status);
    }
    // API Gateway's own refusals: {"message": "Unauthorized"} and friends
    const code = response.status === 401 ? "unauthenticated" : response.status === 403 ? "not_allowed" : "http_error";
    throw new FilegateError(code, (payload && payload.message) || response.statusText, response.status);
  }
  return payload;
}

function s3ErrorCode(xmlText) {
  const match = /<Code>([^<]+)<\/Code>/.exec(xmlText || "");
  return match ? match[1] : "Unknown";
}

/**
 * POST the form S3 expects: every field of the presigned POST, then the file (it must be last).
 * @returns {Promise<void>}
 */
function postToS3(url, fields, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(1);
        resolve();
      } else {
        const code = s3ErrorCode(xhr.responseText);
        reject(new FilegateError(`s3:${code}`, `S3 refused the upload (${code})`, xhr.status));
      }
    };
    xhr.onerror = () => reject(new FilegateError("network", "the upload could not reach storage", 0));
    xhr.onabort = () => reject(new FilegateError("aborted", "the upload was cancelled", 0));
    if (signal) signal.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

/**
 * Upload one file under a rule.
 * @param {object} options
 * @param {string} options.apiUrl the filegate API's base URL
 * @param {string} options.token the user's access token (JWT)
 * @param {string} options.rule rule name, e.g. "cv"
 * @param {File} options.file the file to upload (its type and size are declared to the API)
 * @param {(fraction: number) => void} [options.onProgress] upload progress, 0..1
 * @param {AbortSignal} [options.signal] cancels the upload
 * @returns {Promise<{key: string, fileId: string, expiresAt: number, maxBytes: number}>} the file is
 *   then being verified: see waitForVerification
 */
export async function uploadFile({ apiUrl, token, rule, file, onProgress, signal }) {
  const minted = await mintUpload({ apiUrl, token, rule, file });
  await postToS3(minted.url, minted.fields, file, onProgress, signal);
  return { key: minted.key, fileId: minted.fileId, expiresAt: minted.expiresAt, maxBytes: minted.maxBytes };
}

/**
 * Only the first half of uploadFile, for an upload library that sends the form itself (e.g. Uppy's
 * AwsS3 plugin: see uppy.js): asks POST /uploads for a presigned POST for this file.
 * @param {object} options
 * @param {string} options.apiUrl the filegate API's base URL
 * @param {string} options.token the user's access token (JWT)
 * @param {string} options.rule rule name, e.g. "cv"
 * @param {{name: string, type: string, size: number}} options.file what is declared: its name
 *   (metadata only), type and size
 * @returns {Promise<{key: string, fileId: string, url: string, fields: Object<string, string>,
 *   expiresAt: number, maxBytes: number}>} POST `fields`, then the file (last), to `url`
 */
export async function mintUpload({ apiUrl, token, rule, file }) {
  const minted = await callApi(apiUrl, token, "/uploads", {
    rule,
    content_type: file.type || "application/octet-stream",
    size: file.size,
    filename: file.name,
  });
  return {
    key: minted.key, fileId: minted.file_id, url: minted.url, fields: minted.fields,
    expiresAt: minted.expires_at, maxBytes: minted.max_bytes,
  };
}

/**
 * The file's record: {file_id, key, rule, filename, content_type, size, status, reason?, created_at,
 * verified_at?}. Only its owner gets it (anyone else: "not_found").
 */
export async function fileStatus({ apiUrl, token, fileId }) {
  return callApi(apiUrl, token, `/files/${encodeURIComponent(fileId)}`, null, "GET");
}

/**
 * One page of the files the user may see (their own, and their org's under org rules), newest first.
 * @param {object} options
 * @param {string} options.apiUrl the filegate API's base URL
 * @param {string} options.token the user's access token (JWT)
 * @param {string} [options.rule] only files of this rule
 * @param {number} [options.limit] page size: 1 to 100 (the server caps it; default 50)
 * @param {string} [options.cursor] the nextCursor of the previous page (opaque; it only works for
 *   the same user and rule)
 * @returns {Promise<{files: object[], nextCursor: string|null}>} files as fileStatus returns them;
 *   nextCursor is null on the last page
 */
export async function listFiles({ apiUrl, token, rule, limit, cursor } = {}) {
  const query = new URLSearchParams();
  if (rule) query.set("rule", rule);
  if (limit !== undefined && limit !== null) query.set("limit", String(limit));
  if (cursor) query.set("cursor", cursor);
  const search = query.toString();
  const page = await callApi(apiUrl, token, `/files${search ? `?${search}` : ""}`, null, "GET");
  return { files: page.files, nextCursor: page.next_cursor ?? null };
}

/**
 * Delete one file: every stored version, the edge's cached copies, and every download URL already
 * issued for it. Safe to repeat (a retry of a completed delete answers 204 too).
 * Throws "not_found" (no such file, or not yours), "not_allowed" (its rule does not allow deleting)
 * or "not_ready" (still being checked: try again once it is clean or rejected).
 * @returns {Promise<void>}
 */
export async function deleteFile({ apiUrl, token, fileId }) {
  await callApi(apiUrl, token, `/files/${encodeURIComponent(fileId)}`, null, "DELETE");
}

/**
 * Poll the file's status until it is decided ("clean" or "rejected"); calls onStatus on every
 * change. Throws FilegateError("timeout") after timeoutMs.
 */
export async function waitForVerification({ apiUrl, token, fileId, onStatus, timeoutMs = 120000, intervalMs = 500 }) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    const record = await fileStatus({ apiUrl, token, fileId });
    if (!last || last.status !== record.status) {
      if (onStatus) onStatus(record);
    }
    last = record;
    if (record.status === "clean" || record.status === "rejected") return record;
    if (Date.now() > deadline) throw new FilegateError("timeout", "the file was not verified in time", 0);
    await new Promise((resolve) => { setTimeout(resolve, intervalMs); });
  }
}

const REASONS = {
  type_mismatch: "its content is not the type it was declared as",
  size_mismatch: "its size is not the size that was declared, or over the limit",
  active_content: "it carries active content (scripts, macros or embedded files)",
  malware: "the malware scan found a threat in it",
  scan_failed: "it could not be checked for malware",
  unsupported: "this kind of file cannot be checked",
};

/** Plain words for a rejection reason code. */
export function describeReason(reason) {
  return REASONS[reason] || "it could not be verified";
}

/** Plain words for a file's status. */
export function describeStatus(record) {
  const name = record.filename || "The file";
  switch (record.status) {
    case "awaiting_upload":
      return `${name}: waiting for the upload to arrive.`;
    case "verifying":
      return `${name}: checking the file (its type, its content and a malware scan) ...`;
    case "clean":
      return `${name} is verified and ready to download.`;
    case "rejected":
      return `${name} was rejected: ${describeReason(record.reason)}.`;
    default:
      return `${name}: ${record.status}.`;
  }
}

/**
 * A signed URL for one file the user may read.
 * @param {object} options
 * @param {string} options.apiUrl the filegate API's base URL
 * @param {string} options.token the user's access token (JWT)
 * @param {string} options.key the file's key (as returned by uploadFile)
 * @param {number} [options.expiresIn] wanted lifetime in seconds (the server caps it)
 * @returns {Promise<string>} the URL; it works until it expires, for whoever holds it
 */
export async function downloadUrl({ apiUrl, token, key, expiresIn }) {
  const body = { key };
  if (expiresIn) body.expires_in = expiresIn;
  const minted = await callApi(apiUrl, token, "/downloads", body);
  return minted.url;
}

/**
 * Signed cookies for every file under a prefix the user owns (e.g. "private/users/<sub>/"): the
 * API answers with Set-Cookie (HttpOnly, Secure, SameSite=Lax, Path = the prefix) for the files
 * domain, so the call is made with `credentials: "include"`; page scripts never see the cookies.
 * @param {object} options
 * @param {string} options.apiUrl the filegate API's base URL (on the files domain: `<files>/api`)
 * @param {string} options.token the user's access token (JWT)
 * @param {string} options.prefix a key prefix ending with "/"
 * @param {number} [options.expiresIn] wanted lifetime in seconds (the server caps it)
 * @returns {Promise<{expiresAt: number}>} when the cookies' policy expires
 */
export async function downloadCookies({ apiUrl, token, prefix, expiresIn }) {
  const body = { prefix };
  if (expiresIn) body.expires_in = expiresIn;
  const minted = await callApi(apiUrl, token, "/downloads/cookies", body, "POST", { credentials: "include" });
  return { expiresAt: minted.expires_at };
}

/**
 * The plain URL of a file on the files domain (no signature: it works with the cookies of
 * downloadCookies, or for public/ files).
 */
export function fileUrl({ filesUrl, key }) {
  return `${filesUrl}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * A sentence for people from a FilegateError (or anything thrown).
 * @param {object} [context] maxBytes: the rule's limit (for uploads); action: "delete" when the
 *   error answers a deleteFile
 */
export function describeError(error, { maxBytes, action } = {}) {
  if (action === "delete") {
    switch (error && error.code) {
      case "not_ready":
        return "This file is still being checked; it can be deleted once the check is done.";
      case "not_allowed":
        return "Files of this kind cannot be deleted.";
      case "not_found":
        return "This file is already gone.";
      default:
        break;
    }
  }
  const limit = maxBytes ? ` (the limit is ${(maxBytes / 1048576).toFixed(0)} MB)` : "";
  switch (error && error.code) {
    case "payload_too_large":
    case "s3:EntityTooLarge":
      return `This file is too large${limit}.`;
    case "s3:EntityTooSmall":
      return "This file is empty.";
    case "unsupported_media_type":
      return "This type of file is not allowed here.";
    case "not_allowed":
      return "You are not allowed to do that: this file or folder is not yours.";
    case "unauthenticated":
      return "Please log in again.";
    case "invalid_request":
      return `The request was not accepted: ${error.message}`;
    case "temporarily_unavailable":
      return "The service is busy right now; please try again in a moment.";
    case "rate_limited":
      return "Too many requests from here; please wait a moment and try again.";
    case "request_too_large":
      return "The request was too large for the service to accept.";
    case "request_blocked":
      return "The firewall refused this request.";
    case "s3:AccessDenied":
    case "s3:SignatureDoesNotMatch":
      return "Storage refused the upload: its permission expired or did not match. Please try again.";
    case "network":
      return "The network failed; check your connection and try again.";
    case "not_ready":
      return "This file is still being checked; it can be downloaded once it is verified.";
    case "rejected":
      return "This file was rejected when it was checked, so it cannot be downloaded.";
    case "not_found":
      return "There is no such file.";
    case "quota_exceeded":
      return "You have reached the number of files you may keep here; delete one first.";
    case "timeout":
      return "Checking the file takes longer than usual; look again in a moment.";
    default:
      return `Something went wrong (${(error && error.message) || error}).`;
  }
}
