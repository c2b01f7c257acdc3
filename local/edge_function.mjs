// The local CloudFront Functions runtime for filegate's viewer-request function.
//
//   node local/edge_function.mjs --port P --function edge/revocation.js --kvs-url URL --kvs-arn ARN
//
// A long-running host on 127.0.0.1 (one Node start, not one per request): it reads the function
// file as text, replaces ONLY its `import cf from 'cloudfront';` line with an injected `cf` whose
// `cf.kvs()` handle reads the local KeyValueStore stand-in (local/keyvaluestore.py, GetKey over
// HTTP), and evaluates the rest unchanged in a fresh node:vm context. `POST /run` with a CloudFront
// Functions event (JSON) answers the function's result (JSON): the request to go on with, or the
// response to send. `GET /` tells what is loaded. The local edge (local/edge.py) calls it for every
// request of a signed behaviour, as CloudFront runs the associated function.
//
// The injected handle follows CloudFront's helper methods: `get(key, {format})` (string, json or
// bytes) rejects with `Error: KeyNotFound` when the store has no such key and with another error
// for any other failure; `exists(key)` and `meta()` as documented. `cf.kvs()` throws when no store
// is associated (no --kvs-arn).
//
// What it cannot emulate: the cloudfront-js-2.0 engine itself (this is V8: the function may use a
// feature CloudFront's runtime lacks, or parse dates differently, and still pass here; the
// syntax CloudFront refuses at publish time is only caught by CloudFront); the compute-utilization
// and memory limits (here: a 10 KB code-size check at load and a timeout on each run's awaits,
// which a synchronous loop would outrun: it would wedge this host, and the edge would refuse); the
// modules other than 'cloudfront' (crypto, buffer...: none are provided, the function imports
// none); KeyValueStore's propagation delay to edge locations (writes are visible at once here);
// CloudFront's validation of the returned object (headers it forbids, body size limits), and
// function logs in CloudWatch (console output goes to this host's log).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import vm from 'node:vm';

const IMPORT_LINE = /^import cf from ['"]cloudfront['"];?[ \t]*$/m;
const MAX_CODE_BYTES = 10 * 1024; // CloudFront Functions' maximum function size
const RUN_TIMEOUT_MS = 2000;
const MAX_EVENT_BYTES = 1024 * 1024;

const { values: args } = parseArgs({
    options: {
        port: { type: 'string' },
        function: { type: 'string' },
        'kvs-url': { type: 'string' },
        'kvs-arn': { type: 'string' },
        // The local mode's data folder: a marker only, so that its run can tell this process is its own.
        'data-dir': { type: 'string' },
    },
});
if (!args.port || !args.function) {
    console.error('usage: edge_function.mjs --port P --function FILE [--kvs-url URL --kvs-arn ARN]');
    process.exit(2);
}

// --- the injected `cloudfront` module ------------------------------------------------------

function kvsHandle(baseUrl, arn) {
    const base = `${baseUrl.replace(/\/$/, '')}/key-value-stores/${encodeURIComponent(arn)}`;
    // The stand-in requires an Authorization header (it verifies no signature); CloudFront's
    // functions read their store from inside CloudFront, not through the API.
    const headers = { authorization: 'FilegateLocalEdgeFunction' };

    async function getKey(key) {
        let response;
        try {
            response = await fetch(`${base}/keys/${encodeURIComponent(String(key))}`, { headers });
        } catch (error) {
            throw new Error(`KVS read failed: ${error.message}`);
        }
        if (response.status === 404) {
            throw new Error('KeyNotFound');
        }
        if (response.status !== 200) {
            throw new Error(`KVS read failed: HTTP ${response.status}`);
        }
        return (await response.json()).Value;
    }

    return {
        async get(key, options) {
            const value = await getKey(key);
            const format = (options && options.format) || 'string';
            if (format === 'json') {
                return JSON.parse(value);
            }
            if (format === 'bytes') {
                return new Uint8Array(Buffer.from(value, 'utf8'));
            }
            return value;
        },
        async exists(key) {
            try {
                await getKey(key);
                return true;
            } catch (error) {
                if (error.message === 'KeyNotFound') {
                    return false;
                }
                throw error;
            }
        },
        async meta() {
            const response = await fetch(base, { headers });
            if (response.status !== 200) {
                throw new Error(`KVS meta failed: HTTP ${response.status}`);
            }
            const store = await response.json();
            const iso = (seconds) => (seconds ? new Date(seconds * 1000).toISOString() : undefined);
            return { creationDateTime: iso(store.Created), lastUpdatedDateTime: iso(store.LastModified),
                     keyCount: store.ItemCount };
        },
    };
}

const cloudfront = Object.freeze({
    kvs() {
        if (!args['kvs-url'] || !args['kvs-arn']) {
            throw new Error('no key value store is associated with this function');
        }
        return kvsHandle(args['kvs-url'], args['kvs-arn']);
    },
});

// --- loading the function ------------------------------------------------------------------

function load(path) {
    const source = readFileSync(path, 'utf8');
    if (Buffer.byteLength(source, 'utf8') > MAX_CODE_BYTES) {
        throw new Error(`${path} is over CloudFront Functions' ${MAX_CODE_BYTES}-byte limit`);
    }
    const imports = source.match(new RegExp(IMPORT_LINE.source, 'gm')) || [];
    if (imports.length > 1) {
        throw new Error(`${path} imports 'cloudfront' more than once`);
    }
    // Only that line changes (same line count, so error positions match the file).
    const code = source.replace(IMPORT_LINE, 'const cf = __filegateLocalCloudfront;');
    // A bare context: the language's built-ins only (no require, process, fetch, timers, Buffer),
    // as close as V8 gets to the function runtime's sandbox; console goes to this host's log.
    const context = vm.createContext({
        __filegateLocalCloudfront: cloudfront,
        console: { log: (...parts) => console.log('[function]', ...parts) },
    }, { name: 'cloudfront-function', codeGeneration: { strings: false, wasm: false } });
    new vm.Script(code, { filename: path }).runInContext(context, { timeout: RUN_TIMEOUT_MS });
    const handler = vm.runInContext('typeof handler === "function" ? handler : undefined', context);
    if (!handler) {
        throw new Error(`${path} defines no function named handler`);
    }
    const parse = vm.runInContext('JSON.parse', context); // events are objects of the function's realm
    return { handler, parse, bytes: Buffer.byteLength(source, 'utf8') };
}

const loaded = load(args.function);

async function run(eventText) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the function ran over ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
    });
    try {
        return await Promise.race([loaded.handler(loaded.parse(eventText)), timeout]);
    } finally {
        clearTimeout(timer);
    }
}

// --- the host ------------------------------------------------------------------------------

function reply(res, status, payload) {
    const body = JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
}

const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/') {
        reply(res, 200, { function: args.function, bytes: loaded.bytes, kvs: args['kvs-arn'] || null });
        return;
    }
    if (req.method !== 'POST' || req.url !== '/run') {
        reply(res, 404, { error: 'not found' });
        return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
        size += chunk.length;
        if (size <= MAX_EVENT_BYTES) {
            chunks.push(chunk);
        }
    });
    req.on('end', async () => {
        if (size > MAX_EVENT_BYTES) {
            reply(res, 413, { error: 'event too large' });
            return;
        }
        try {
            const result = await run(Buffer.concat(chunks).toString('utf8'));
            reply(res, 200, result === undefined ? null : result);
        } catch (error) {
            // CloudFront answers 503 when a function throws (FunctionExecutionError); the edge does.
            console.error(`function error: ${error && error.stack ? error.stack : error}`);
            reply(res, 500, { error: String(error && error.message ? error.message : error) });
        }
    });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(args.port), '127.0.0.1', () => {
    console.log(`local CloudFront function ${args.function} (${loaded.bytes} bytes) on `
        + `http://127.0.0.1:${server.address().port} (pid ${process.pid})`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
    });
}
