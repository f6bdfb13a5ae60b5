// Drives the official Voximplant Web SDK in headless Chromium against chatwire-server, with a
// Rust chatwire SDK user (the peer) on the other side. Started by run.sh; prints one line per
// step and exits non-zero on the first failure.
//
// Environment: WORK (holds voximplant.min.js), SERVER_IP (host:port of chatwire-server, TLS),
// PAGE (page.html), PEER_BIN, CA (certificate PEM for the peer), CHROMIUM, WEB_USER /
// PEER_USER / THIRD_USER (full names), PASSWORD (everyone's password).
// Against a cluster (run.sh with CLUSTER=N) also: PEER_SERVER_IP (the node the Rust peer uses;
// default SERVER_IP) and EXTRA_WEB (space-separated `user@domain=host:port`: one more browser
// user per further node, each in its own page connected to that node).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const env = process.env;
const results = [];
let stepNo = 0;

function log(line) {
  process.stdout.write(line + '\n');
}

async function step(name, fn) {
  stepNo += 1;
  const started = Date.now();
  try {
    const detail = await fn();
    log(`ok   ${String(stepNo).padStart(2)} ${name}${detail ? ` (${detail})` : ''} [${Date.now() - started} ms]`);
    results.push({ name, ok: true });
  } catch (e) {
    log(`FAIL ${String(stepNo).padStart(2)} ${name}: ${e && e.message ? e.message : e}`);
    results.push({ name, ok: false });
    throw e;
  }
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the Rust peer ----
class Peer {
  constructor(bin, args) {
    this.proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.events = [];
    this.pending = new Map();
    this.nextId = 1;
    this.ready = new Promise((resolve, reject) => {
      this.onReady = resolve;
      this.onFatal = reject;
    });
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let v;
      try { v = JSON.parse(line); } catch { return; }
      if (v.type === 'ready') this.onReady(v);
      else if (v.type === 'fatal') this.onFatal(new Error(v.error));
      else if (v.type === 'reply') {
        const p = this.pending.get(v.id);
        this.pending.delete(v.id);
        if (p) p(v);
      } else if (v.type === 'event') this.events.push(v);
    });
  }

  cmd(cmd, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer ${cmd}: no reply`)), 15000);
      this.pending.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.proc.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    });
  }

  async ok(cmd, args) {
    const r = await this.cmd(cmd, args);
    if (!r.ok) throw new Error(`peer ${cmd} failed: ${r.error}`);
    return r.result;
  }

  async event(pred, what, timeout = 10000) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0];
      await sleep(20);
    }
    throw new Error(`peer never saw ${what}`);
  }

  stop() {
    try { this.proc.stdin.write('{"cmd":"quit"}\n'); } catch {}
    setTimeout(() => this.proc.kill('SIGKILL'), 1000).unref();
  }
}

// ---- the page ----
function serveStatic() {
  const files = {
    '/': ['text/html', env.PAGE],
    '/voximplant.min.js': ['application/javascript', path.join(env.WORK, 'package', 'voximplant.min.js')],
  };
  const server = http.createServer((req, res) => {
    const f = files[req.url.split('?')[0]];
    if (!f) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': f[0] });
    fs.createReadStream(f[1]).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function webEvent(page, pred, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  const seen = [];
  while (Date.now() < deadline) {
    const batch = await page.evaluate(() => window.__events.splice(0));
    for (const e of batch) {
      if (pred(e)) {
        // Put back what was not consumed.
        const rest = batch.slice(batch.indexOf(e) + 1);
        await page.evaluate((r) => window.__events.unshift(...r), rest);
        return e;
      }
      seen.push(e);
    }
    await sleep(20);
  }
  throw new Error(`web page never saw ${what}; saw ${JSON.stringify(seen.slice(0, 4))}`);
}

async function main() {
  const staticServer = await serveStatic();
  const pageUrl = `http://localhost:${staticServer.address().port}/`;
  const userDir = fs.mkdtempSync(path.join(env.WORK, 'chrome-'));
  const browser = await chromium.launchPersistentContext(userDir, {
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--ignore-certificate-errors'],
  });
  const page = await browser.newPage();
  page.on('pageerror', (e) => log(`     page error: ${e.message}`));
  let peer;
  try {
    await page.goto(pageUrl);
    const W = { user: env.WEB_USER, password: env.PASSWORD, serverIp: env.SERVER_IP };

    await step('web: init({serverIp}) and connect() to chatwire-server over wss', async () => {
      await page.evaluate(async (W) => {
        const sdk = VoxImplant.getInstance();
        await sdk.init({ serverIp: W.serverIp, micRequired: false, videoSupport: false, progressTone: false, showDebugInfo: false });
        await sdk.connect(false);
      }, W);
    });

    let webTokens;
    await step('web: password login (loginSuccessful with OAuth tokens)', async () => {
      const r = await page.evaluate(async (W) => {
        const auth = await VoxImplant.getInstance().login(W.user, W.password);
        const messenger = VoxImplant.getMessenger();
        for (const name of Object.values(VoxImplant.Messaging.MessengerEvents)) {
          messenger.on(name, (e) => window.__events.push({ ...window.__summary(e), name }));
        }
        return { result: auth.result, displayName: auth.displayName, tokens: auth.tokens };
      }, W);
      check(r.result === true, `login result ${JSON.stringify(r)}`);
      check(r.tokens && r.tokens.accessToken && r.tokens.refreshToken, 'no tokens');
      webTokens = r.tokens;
      return `display name ${r.displayName}`;
    });

    let peerId;
    await step('the Rust peer logs in with the chatwire SDK (wss, same server)', async () => {
      const peerServer = env.PEER_SERVER_IP || env.SERVER_IP;
      peer = new Peer(env.PEER_BIN, [`wss://localhost:${peerServer.split(':')[1]}/platform`, env.CA, env.PEER_USER, env.PASSWORD]);
      peerId = (await peer.ready).user_id;
      return `user ${peerId}${env.PEER_SERVER_IP ? ` on ${env.PEER_SERVER_IP}, the web user on ${env.SERVER_IP}` : ''}`;
    });
    const thirdId = await page.evaluate(async (name) => (await VoxImplant.getMessenger().getUser(name)).user.userId, env.THIRD_USER);

    let webId;
    await step('web: getUser / getUsers by canonical names and getUserById / getUsersById', async () => {
      const r = await page.evaluate(async ([peer, third, peerId, thirdId]) => {
        const m = VoxImplant.getMessenger();
        const one = await m.getUser(peer);
        const many = await m.getUsers([peer, third]);
        const byId = await m.getUserById(peerId);
        const manyById = await m.getUsersById([peerId, thirdId]);
        return {
          me: await m.getMyId(),
          one: one.user.userId,
          many: many.map((e) => e.user.userId),
          byId: byId.user.userName,
          manyById: manyById.map((e) => e.user.userName),
        };
      }, [env.PEER_USER, env.THIRD_USER, peerId, thirdId]);
      webId = r.me;
      check(r.one === peerId, `getUser gave ${r.one}`);
      check(JSON.stringify(r.many) === JSON.stringify([peerId, thirdId]), `getUsers gave ${r.many}`);
      check(r.byId === env.PEER_USER, `getUserById gave ${r.byId}`);
      check(JSON.stringify(r.manyById) === JSON.stringify([env.PEER_USER, env.THIRD_USER]), `getUsersById gave ${r.manyById}`);
      return `web user ${webId}`;
    });

    let conv;
    await step('web: createConversation with the tutorial chat permissions; the Rust side receives it', async () => {
      conv = await page.evaluate(async (peerId) => {
        const m = VoxImplant.getMessenger();
        const participants = [{ userId: peerId, canWrite: true, canEdit: true, canRemove: true, canManageParticipants: true, canEditAll: false, canRemoveAll: false }];
        const e = await m.createConversation(participants, 'Interop chat', false, false, false, { type: 'chat' });
        window.__conv = e.conversation;
        return e.conversation.uuid;
      }, peerId);
      const ev = await peer.event((e) => e.kind === 'ConversationCreated' && e.conversation === conv, 'ConversationCreated');
      const mine = ev.participants.find((p) => p.user === peerId);
      check(mine && mine.flags === 15, `peer flags ${JSON.stringify(ev.participants)}`);
      check(ev.title === 'Interop chat', `title ${ev.title}`);
      return conv;
    });

    let webMsg;
    await step('messages both ways: web sendMessage(text, []) and the Rust send_message', async () => {
      webMsg = await page.evaluate(async () => (await window.__conv.sendMessage('hello from the web', [])).message.uuid);
      const got = await peer.event((e) => e.kind === 'MessageSent' && e.text === 'hello from the web', 'the web message');
      check(got.initiator === webId, `initiator ${got.initiator}`);
      await peer.ok('send', { conv, text: 'hello from rust' });
      const w = await webEvent(page, (e) => e.name === 'SendMessage' && e.text === 'hello from rust', 'the Rust message');
      check(w.initiator === peerId, `web saw initiator ${w.initiator}`);
    });

    await step('web edits and removes its message; the Rust side sees both', async () => {
      const editedText = await page.evaluate(async () => {
        const m = VoxImplant.getMessenger();
        const sent = await window.__conv.sendMessage('typo', []);
        sent.message.text = 'fixed';
        await sent.message.update();
        const second = await window.__conv.sendMessage('to be removed', []);
        await second.message.remove();
        return sent.message.text;
      });
      check(editedText === 'fixed', `edited text ${editedText}`);
      await peer.event((e) => e.kind === 'MessageEdited' && e.text === 'fixed', 'the edit');
      await peer.event((e) => e.kind === 'MessageRemoved', 'the removal');
    });

    await step('web addParticipants / editParticipants / removeParticipants; the Rust side sees each', async () => {
      await page.evaluate(async (thirdId) => {
        await window.__conv.addParticipants([{ userId: thirdId, canWrite: true, canEdit: true, canRemove: true }]);
        await window.__conv.editParticipants([{ userId: thirdId, canWrite: false, canEdit: false, canRemove: false }]);
        await window.__conv.removeParticipants([{ userId: thirdId }]);
      }, thirdId);
      const add = await peer.event((e) => e.kind === 'ConversationEdited' && e.action === 'addParticipants', 'addParticipants');
      check(add.participants.some((p) => p.user === thirdId && p.flags === 7), `after add ${JSON.stringify(add.participants)}`);
      const edit = await peer.event((e) => e.kind === 'ConversationEdited' && e.action === 'editParticipants', 'editParticipants');
      check(edit.participants.some((p) => p.user === thirdId && p.flags === 0), `after edit ${JSON.stringify(edit.participants)}`);
      const rm = await peer.event((e) => e.kind === 'ConversationEdited' && e.action === 'removeParticipants', 'removeParticipants');
      check(!rm.participants.some((p) => p.user === thirdId), 'still a participant');
    });

    await step('web setCustomData (merged by hand, as the tutorial warns) and setTitle', async () => {
      await page.evaluate(async () => {
        const merged = Object.assign({}, window.__conv.customData, { topic: 'interop' });
        await window.__conv.setCustomData(merged);
        await window.__conv.setTitle('Interop chat (renamed)');
      });
      const data = await peer.event((e) => e.kind === 'ConversationEdited' && e.custom_data && e.custom_data.topic === 'interop', 'custom data');
      check(data.custom_data.type === 'chat', `merged data lost a key: ${JSON.stringify(data.custom_data)}`);
      await peer.event((e) => e.kind === 'ConversationEdited' && e.title === 'Interop chat (renamed)', 'the new title');
    });

    await step('typing and markAsRead both ways', async () => {
      await page.evaluate(async () => { await window.__conv.typing(); });
      await peer.event((e) => e.kind === 'Typing' && e.initiator === webId, 'web typing');
      await peer.ok('typing', { conv });
      await webEvent(page, (e) => e.name === 'Typing' && e.initiator === peerId, 'Rust typing');
      const seq = await page.evaluate(async () => (await VoxImplant.getMessenger().getConversation(window.__conv.uuid)).conversation.lastSeq);
      await page.evaluate(async (seq) => { await window.__conv.markAsRead(seq); }, seq);
      await peer.event((e) => e.kind === 'Read' && e.initiator === webId && e.read_seq === seq, 'web read mark');
      await peer.ok('read', { conv, seq });
      await webEvent(page, (e) => e.name === 'Read' && e.initiator === peerId, 'Rust read mark');
      return `read up to ${seq}`;
    });

    await step('presence: subscribe and setStatus, seen on both sides', async () => {
      await page.evaluate(async (peerId) => { await VoxImplant.getMessenger().subscribe([peerId]); }, peerId);
      await peer.ok('subscribe', { user: webId });
      await peer.ok('status', { online: true });
      await webEvent(page, (e) => e.name === 'SetStatus' && e.initiator === peerId && e.online === true, 'Rust presence');
      await page.evaluate(async () => { await VoxImplant.getMessenger().setStatus(true); });
      await peer.event((e) => e.kind === 'Status' && e.user === webId && e.online === true, 'web presence');
    });

    let lastSeen;
    await step('web disconnects; the Rust side sends; web logs in with the first access token and retransmitEvents(from, to)', async () => {
      lastSeen = await page.evaluate(async () => (await VoxImplant.getMessenger().getConversation(window.__conv.uuid)).conversation.lastSeq);
      await page.evaluate(() => VoxImplant.getInstance().disconnect());
      await sleep(300);
      for (const t of ['missed 1', 'missed 2', 'missed 3']) await peer.ok('send', { conv, text: t });
      const texts = await page.evaluate(async ([W, token, from]) => {
        const sdk = VoxImplant.getInstance();
        await sdk.connect(false);
        const auth = await sdk.loginWithToken(W.user, token);
        if (!auth.result) throw new Error('token login failed: ' + JSON.stringify(auth));
        const c = (await VoxImplant.getMessenger().getConversation(window.__conv.uuid)).conversation;
        window.__conv = c;
        const r = await c.retransmitEvents(from, c.lastSeq);
        return r.events.filter((e) => e.message).map((e) => e.message.text);
      }, [W, webTokens.accessToken, lastSeen + 1]);
      check(JSON.stringify(texts) === JSON.stringify(['missed 1', 'missed 2', 'missed 3']), `retransmitted ${JSON.stringify(texts)}`);
    });

    await step('web tokenRefresh (refreshOauthToken)', async () => {
      const r = await page.evaluate(async ([user, rt]) => VoxImplant.getInstance().tokenRefresh(user, rt), [W.user, webTokens.refreshToken]);
      check(r && r.result !== false && r.tokens && r.tokens.accessToken, `refresh gave ${JSON.stringify(r)}`);
      check(r.tokens.accessToken !== webTokens.accessToken, 'same access token');
    });

    await step('a direct conversation created twice returns the same uuid', async () => {
      const [a, b] = await page.evaluate(async (peerId) => {
        const m = VoxImplant.getMessenger();
        const p = [{ userId: peerId, canWrite: true, canEdit: true, canRemove: true }];
        const first = await m.createConversation(p, 'direct', true, false, false, {});
        const second = await m.createConversation(p, 'direct again', true, false, false, {});
        return [first.conversation.uuid, second.conversation.uuid];
      }, peerId);
      check(a === b, `${a} != ${b}`);
    });

    await step("the tutorial demo's permissions (custom data, an object of booleans) read and written by the Rust SDK", async () => {
      const demoConv = await page.evaluate(async (peerId) => {
        const m = VoxImplant.getMessenger();
        const permissions = { canWrite: true, canEdit: true, canRemove: true, canManageParticipants: true, canEditAll: false, canRemoveAll: false };
        const p = [{ userId: peerId, ...permissions }];
        const e = await m.createConversation(p, 'demo chat', false, false, false, { type: 'chat', permissions });
        return e.conversation.uuid;
      }, peerId);
      const added = await peer.ok('add', { conv: demoConv, user: thirdId });
      check(added.flags === 15 && added.defaults === 15, `member added by Rust got ${JSON.stringify(added)}`);
      const made = await peer.ok('chat', { user: webId });
      const stored = await page.evaluate(async (uuid) => (await VoxImplant.getMessenger().getConversation(uuid)).conversation.customData.permissions, made.conv);
      const expected = { canWrite: true, canEdit: true, canRemove: true, canManageParticipants: true, canEditAll: false, canRemoveAll: false };
      check(JSON.stringify(stored) === JSON.stringify(expected), `the web reads ${JSON.stringify(stored)}`);
    });

    await step("the tutorial's history window retransmitEvents(lastSeq - 100, lastSeq): 101 events", async () => {
      await peer.ok('send_many', { conv, count: 105 });
      const r = await page.evaluate(async () => {
        const c = (await VoxImplant.getMessenger().getConversation(window.__conv.uuid)).conversation;
        const events = (await c.retransmitEvents(c.lastSeq - 100, c.lastSeq)).events;
        return { last: c.lastSeq, count: events.length, first: events[0].seq, lastSeq: events[events.length - 1].seq };
      });
      check(r.count === 101 && r.first === r.last - 100 && r.lastSeq === r.last, `got ${JSON.stringify(r)}`);
      return `${r.count} events up to seq ${r.last}`;
    });

    await step('errors reach the page with the protocol error codes (write without permission: 12)', async () => {
      const { conv: channel } = await peer.ok('broadcast', { user: webId });
      const code = await page.evaluate(async (uuid) => {
        const c = (await VoxImplant.getMessenger().getConversation(uuid)).conversation;
        try {
          await c.sendMessage('not allowed', []);
          return 'accepted';
        } catch (e) {
          return e.code;
        }
      }, channel);
      check(code === 12, `got ${JSON.stringify(code)}`);
    });

    await step('quirk: retransmitEvents(from, to, count) sends all three range fields; the server answers 36', async () => {
      const r = await page.evaluate(async () => {
        window.__recv.length = 0;
        let surfaced = 'accepted';
        try {
          await window.__conv.retransmitEvents(1, 2, 2);
        } catch (e) {
          surfaced = e.code;
        }
        const sent = JSON.parse(window.__sent.filter((f) => f.includes('retransmitEvents')).slice(-1)[0]);
        const error = window.__recv.map((f) => JSON.parse(f)).find((f) => f.request_uuid === sent.request_uuid);
        return { sent: sent.payload, server: error && error.payload.code, surfaced };
      });
      check(r.sent.events_from === 1 && r.sent.events_to === 2 && r.sent.count === 2, `sent ${JSON.stringify(r.sent)}`);
      check(r.server === 36, `server answered ${r.server}`);
      return `the SDK reports it to the page as code ${r.surfaced}`;
    });

    const extra = (env.EXTRA_WEB || '').split(/\s+/).filter(Boolean).map((e) => {
      const [user, serverIp] = e.split('=');
      return { user, password: env.PASSWORD, serverIp };
    });
    if (extra.length > 0) {
      await step(`cluster: ${extra.length + 1} browser users on ${extra.length + 1} nodes and the Rust peer on another, in one conversation`, async () => {
        const pages = [];
        for (const X of extra) {
          const p = await browser.newPage();
          p.on('pageerror', (e) => log(`     page error (${X.user}): ${e.message}`));
          await p.goto(pageUrl);
          const id = await p.evaluate(async (X) => {
            const sdk = VoxImplant.getInstance();
            await sdk.init({ serverIp: X.serverIp, micRequired: false, videoSupport: false, progressTone: false, showDebugInfo: false });
            await sdk.connect(false);
            const auth = await sdk.login(X.user, X.password);
            if (!auth.result) throw new Error('login failed: ' + JSON.stringify(auth));
            const messenger = VoxImplant.getMessenger();
            for (const name of Object.values(VoxImplant.Messaging.MessengerEvents)) {
              messenger.on(name, (e) => window.__events.push({ ...window.__summary(e), name }));
            }
            return messenger.getMyId();
          }, X);
          await peer.ok('add', { conv, user: id });
          pages.push({ page: p, id, X });
        }
        // Each further page sees the Rust peer's message and the first web user's, live.
        await peer.ok('send', { conv, text: 'to every node from rust' });
        await page.evaluate(async () => { await window.__conv.sendMessage('to every node from the web', []); });
        for (const { page: p, X } of pages) {
          await webEvent(p, (e) => e.name === 'SendMessage' && e.text === 'to every node from rust', `the Rust message on ${X.serverIp}`);
          await webEvent(p, (e) => e.name === 'SendMessage' && e.text === 'to every node from the web', `the web message on ${X.serverIp}`);
        }
        // Each further page sends; the Rust peer and the first web user see every message.
        for (const { page: p, id, X } of pages) {
          const text = `from ${X.user}`;
          await p.evaluate(async ([uuid, text]) => {
            const c = (await VoxImplant.getMessenger().getConversation(uuid)).conversation;
            await c.sendMessage(text, []);
          }, [conv, text]);
          const got = await peer.event((e) => e.kind === 'MessageSent' && e.text === text, `the message of ${X.user}`);
          check(got.initiator === id, `initiator ${got.initiator}`);
          await webEvent(page, (e) => e.name === 'SendMessage' && e.text === text, `the message of ${X.user} on ${env.SERVER_IP}`);
        }
        for (const { page: p } of pages) await p.close();
        return `${extra.map((X) => X.serverIp).join(', ')}`;
      });
    }
  } finally {
    if (peer) peer.stop();
    await browser.close().catch(() => {});
    staticServer.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

main().then(
  () => {
    log(`interop/websdk: ${results.length} passed, 0 failed`);
    process.exit(0);
  },
  (e) => {
    const failed = results.filter((r) => !r.ok).length || 1;
    log(`interop/websdk: ${results.filter((r) => r.ok).length} passed, ${failed} failed`);
    if (e && e.stack && !results.some((r) => !r.ok)) log(e.stack);
    process.exit(1);
  },
);
