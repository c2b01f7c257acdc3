import cf from 'cloudfront';

// filegate's edge deny list (docs/lifecycle.md, "Revocations"): a CloudFront Function
// (cloudfront-js-2.0, viewer request) on every signed behaviour, with the store
// <prefix>-revocations associated. An entry names a final key or a prefix ending in "/";
// its value is `until`, decimal epoch seconds. While any entry that covers the requested key
// has an `until` later than now, the request is refused. A signed URL carries no issue time,
// so this is how a deleted file's issued URLs and cookies stop working before they expire.
// The local edge runs this file unchanged (local/edge_function.mjs).

const kvsHandle = cf.kvs();

// KeyValueStore names are at most 512 bytes: a longer name can hold no entry.
const MAX_NAME_BYTES = 512;
const DENIED_BODY = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    + '<Message>Access denied</Message></Error>';

function denied() {
    return {
        statusCode: 403,
        statusDescription: 'Forbidden',
        headers: {
            'content-type': { value: 'text/xml' },
            'cache-control': { value: 'no-store' },
        },
        body: { encoding: 'text', data: DENIED_BODY },
    };
}

function utf8Length(text) {
    let bytes = 0;
    for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code < 0x80) {
            bytes += 1;
        } else if (code < 0x800) {
            bytes += 2;
        } else if (code >= 0xd800 && code < 0xdc00) {
            bytes += 4; // a surrogate pair: one 4-byte character
            i++;
        } else {
            bytes += 3;
        }
    }
    return bytes;
}

// The names that cover `key`: every prefix ending at a "/" ("a/", "a/b/", ...) and the key.
function namesFor(key) {
    const names = [];
    for (let end = key.indexOf('/'); end !== -1; end = key.indexOf('/', end + 1)) {
        names.push(key.slice(0, end + 1));
    }
    if (key.length > 0 && key[key.length - 1] !== '/') {
        names.push(key);
    }
    return names;
}

async function handler(event) {
    const request = event.request;
    let key;
    try {
        key = decodeURIComponent(request.uri); // once, as S3 decodes the path it is sent
    } catch (e) {
        return denied();
    }
    if (key[0] === '/') {
        key = key.slice(1);
    }
    const now = Date.now() / 1000;
    const names = namesFor(key);
    for (let i = 0; i < names.length; i++) {
        if (utf8Length(names[i]) > MAX_NAME_BYTES) {
            continue;
        }
        // `exists` answers a boolean (CloudFront's helper methods), so a miss, the common case, is
        // never told apart from a failure by an error message. One name at a time: combinators
        // cost function memory.
        let value;
        try {
            if (!(await kvsHandle.exists(names[i]))) {
                continue;
            }
            value = await kvsHandle.get(names[i]);
        } catch (error) {
            return denied(); // the store could not say (or the entry vanished meanwhile): fail closed
        }
        // `until` is decimal epoch seconds; anything else is read as revoked (fail closed).
        const until = /^[0-9]{1,12}$/.test(String(value)) ? Number(value) : Infinity;
        if (until > now) {
            return denied();
        }
    }
    return request;
}
