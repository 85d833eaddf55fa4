// Drives posthorn's IMAP server with imapflow, an IMAP client written
// independently of posthorn and of Python's imaplib, the way a mail
// program uses it: log in, list folders, STATUS, SELECT, fetch envelope /
// body structure / source, download an attachment, search, set flags,
// append, copy, move, delete, and IDLE until a message sent over SMTP
// arrives. Prints one JSON object on stdout: what each step got (or its
// error); test_imap_imapflow.py checks it against the server's store.
//
// usage: node drive.mjs '{"imapPort":N,"smtpPort":N,"user":"u","password":"p"}'
// Every wait is bounded (TIMEOUT_MS) so a broken server fails the test
// instead of hanging it.
import net from 'node:net';
import { ImapFlow } from 'imapflow';

const TIMEOUT_MS = 30000;
const args = JSON.parse(process.argv[2]);
const host = '127.0.0.1';

// imapflow's raw socket log: every write and read, in order.
const raw = [];
const logger = {
    trace(entry) {
        if (entry && entry.data && (entry.src === 'c' || entry.src === 's')) {
            raw.push({ src: entry.src, text: entry.hidden ? '<hidden>' : Buffer.from(entry.data, 'base64').toString('latin1') });
        }
    },
    debug() {}, info() {}, warn() {},
    error(entry) { raw.push({ src: 'error', text: JSON.stringify(entry) }); },
};

function withTimeout(promise, what) {
    let timer;
    return Promise.race([
        promise,
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), TIMEOUT_MS); }),
    ]).finally(() => clearTimeout(timer));
}

async function until(predicate, what) {
    const deadline = Date.now() + TIMEOUT_MS;
    while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
        await new Promise(r => setTimeout(r, 20));
    }
}

// A minimal SMTP client (the delivery that wakes IDLE).
async function smtpSend(port, from, to, message) {
    const sock = net.connect(port, host);
    sock.setEncoding('latin1');
    let buf = '';
    const waiters = [];
    sock.on('data', d => { buf += d; waiters.splice(0).forEach(w => w()); });
    const reply = async () => {
        for (;;) {
            const m = buf.match(/^(?:\d{3}-[^\r\n]*\r\n)*(\d{3}) [^\r\n]*\r\n/);
            if (m) { buf = buf.slice(m[0].length); return Number(m[1]); }
            await withTimeout(new Promise(r => waiters.push(r)), 'SMTP reply');
        }
    };
    const expect = async (line, code) => {
        if (line !== null) sock.write(line + '\r\n');
        const got = await reply();
        if (got !== code) throw new Error(`SMTP ${line}: want ${code}, got ${got}`);
    };
    await expect(null, 220);
    await expect('EHLO imapflow.test', 250);
    await expect(`MAIL FROM:<${from}>`, 250);
    await expect(`RCPT TO:<${to}>`, 250);
    await expect('DATA', 354);
    await expect(message.replace(/^\./gm, '..') + '.', 250);
    sock.end('QUIT\r\n');
}

function plain(v) {
    if (v instanceof Set) return [...v].sort();
    if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]));
    if (typeof v === 'bigint') return v.toString();
    if (Buffer.isBuffer(v)) return { base64: v.toString('base64') };
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
}

const out = { steps: [] };
async function step(name, fn) {
    try {
        out[name] = plain(await withTimeout(Promise.resolve().then(fn), name));
        out.steps.push(name);
    } catch (err) {
        out[name] = { error: String(err && err.message || err), response: err && err.responseText };
        out.steps.push(name + ':error');
    }
}

const client = new ImapFlow({
    host, port: args.imapPort, secure: false, doSTARTTLS: false,
    auth: { user: args.user, pass: args.password },
    logger, logRaw: true, disableAutoIdle: true, connectionTimeout: TIMEOUT_MS, greetingTimeout: TIMEOUT_MS,
});

await step('connect', async () => {
    await client.connect();
    return { capabilities: [...client.capabilities.keys()].sort(), serverInfo: client.serverInfo,
             authenticated: client.authenticated, namespace: client.namespace };
});
await step('create', async () => {
    const made = [];
    for (const path of ['Archive', 'Projects/Alpha', 'Sent', 'Old', 'Entw\u00fcrfe']) made.push(await client.mailboxCreate(path));
    await client.mailboxRename('Old', 'Older');
    await client.mailboxDelete('Older');
    await client.mailboxSubscribe('Projects/Alpha');
    return made;
});
await step('list', async () => (await client.list()).map(m => ({
    path: m.path, flags: m.flags, specialUse: m.specialUse || null, delimiter: m.delimiter,
    subscribed: m.subscribed, parent: m.parentPath })));
await step('status', () => client.status('INBOX', { messages: true, uidNext: true, uidValidity: true, unseen: true,
                                                     recent: true }));
await step('open', async () => {
    const m = await client.mailboxOpen('INBOX');
    return { path: m.path, exists: m.exists, uidValidity: m.uidValidity, uidNext: m.uidNext, flags: m.flags,
             permanentFlags: m.permanentFlags, readOnly: m.readOnly };
});
await step('fetch', async () => {
    const msgs = [];
    for await (const m of client.fetch('1:*', { uid: true, flags: true, size: true, internalDate: true,
                                                envelope: true, bodyStructure: true, source: true })) {
        msgs.push({ seq: m.seq, uid: m.uid, flags: m.flags, size: m.size, internalDate: m.internalDate,
                    envelope: m.envelope, bodyStructure: m.bodyStructure, source: m.source });
    }
    return msgs;
});
await step('download', async () => {
    // The attachment alone (part 2 of the first message), decoded by the client.
    const { meta, content } = await client.download('1', '2');
    const chunks = [];
    for await (const c of content) chunks.push(c);
    return { meta: { contentType: meta.contentType, filename: meta.filename, encoding: meta.encoding },
             content: Buffer.concat(chunks) };
});
await step('parts', async () => {
    const m = await client.fetchOne('1', { bodyParts: ['1', '3.1', 'HEADER'] });
    return m.bodyParts;
});
await step('search', async () => ({
    fromAlice: await client.search({ from: 'alice@remote.test' }),
    unseen: await client.search({ seen: false }),
    subject: await client.search({ subject: 'report' }),
    body: await client.search({ body: 'plain text body' }),
    larger: await client.search({ larger: 1000 }),
    orFrom: await client.search({ or: [{ from: 'bob' }, { from: 'alice' }] }),
    uids: await client.search({ all: true }, { uid: true }),
}));
await step('flags', async () => {
    await client.messageFlagsAdd('1', ['\\Flagged', '\\Seen']);
    await client.messageFlagsRemove('1', ['\\Seen']);
    await client.messageFlagsAdd('1', ['$Label1']);
    await client.messageFlagsSet({ uid: '2' }, ['\\Answered', '\\Draft'], { uid: true });
    const got = [];
    for await (const m of client.fetch('1:*', { uid: true, flags: true })) got.push({ uid: m.uid, flags: m.flags });
    return got;
});
const appended = 'From: imapflow <imapflow@example.test>\r\nSubject: appended by imapflow\r\n' +
                 'Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nappended body\r\n.dot line\r\n';
await step('append', async () => {
    const rawStart = raw.length;
    const r = await client.append('INBOX', appended, ['\\Seen'], new Date('2026-01-02T03:04:05Z'));
    const line = raw.slice(rawStart).find(e => e.src === 'c' && / APPEND /.test(e.text));
    const m = await client.fetchOne(String(r.uid), { source: true, flags: true, internalDate: true }, { uid: true });
    return { result: r, source: m.source, flags: m.flags, internalDate: m.internalDate,
             literal: line ? (line.text.match(/\{\d+\+?\}\r\n/) || [null])[0] : null };
});
await step('copy', () => client.messageCopy('1:2', 'Archive'));
await step('move', () => client.messageMove({ uid: '3' }, 'Projects/Alpha', { uid: true }));
await step('delete', async () => {
    const ok = await client.messageDelete('2');
    const left = [];
    for await (const m of client.fetch('1:*', { uid: true })) left.push(m.uid);
    return { ok, left };
});
await step('statusAfter', async () => ({
    inbox: await client.status('INBOX', { messages: true }),
    archive: await client.status('Archive', { messages: true, uidNext: true }),
    alpha: await client.status('Projects/Alpha', { messages: true }),
}));
await step('idle', async () => {
    const exists = [];
    client.on('exists', d => exists.push(d));
    const rawStart = raw.length;
    const idling = client.idle();
    // The server has said "+": IDLE is on. Then a message comes over SMTP.
    await until(() => raw.slice(rawStart).some(e => e.src === 's' && /^\+ /m.test(e.text)), 'the IDLE continuation');
    await smtpSend(args.smtpPort, 'carol@remote.test', `${args.user}@example.test`,
                   'From: <carol@remote.test>\r\nSubject: wakes idle\r\n\r\nnew mail\r\n');
    await until(() => exists.length > 0, 'an exists event');
    const session = raw.slice(rawStart);
    const idleAt = session.findIndex(e => e.src === 'c' && /^\S+ IDLE\r\n/.test(e.text));
    const contAt = session.findIndex((e, i) => i > idleAt && e.src === 's' && /^\+ /m.test(e.text));
    const existsAt = session.findIndex((e, i) => i > contAt && e.src === 's' && /\* \d+ EXISTS\r\n/.test(e.text));
    await client.noop();                       // DONE, then NOOP
    await idling;
    const doneAt = raw.slice(rawStart).findIndex(e => e.src === 'c' && /^DONE\r\n/.test(e.text));
    const m = await client.fetchOne('*', { envelope: true, uid: true });
    return { exists, order: { idleAt, contAt, existsAt, doneAt }, newest: { uid: m.uid, subject: m.envelope.subject } };
});
await step('logout', async () => { await client.logout(); return true; });

out.raw = raw.map(e => `${e.src}: ${e.text}`).join('').slice(-20000);
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
