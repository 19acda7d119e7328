import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileAuditSink } from '../audit/log';
import { AuditRecord } from '../audit/record';
import { tempDir } from './helpers';

const record = (id: string): AuditRecord => ({
  time: new Date().toISOString(), request_id: id, event: 'access', user_name: 'alice', groups: 'analysts', client: 'api', notebook: null,
  action: 'scan', dataset: 'd.t', columns: null, policies: null, row_filter: null, caller_filter: null, outcome: 'allowed', reason: null, rows: null, bytes: null,
  actual_outcome: 'allowed', actual_reason: null
});

test('concurrent writes are all durable, one line each, in one file', async () => {
  const dir = tempDir('audit');
  const sink = new FileAuditSink(join(dir.path, 'audit.jsonl'));
  await sink.open();
  await Promise.all(Array.from({ length: 200 }, (_, i) => sink.write(record(`r${i}`))));
  await sink.close();
  const ids = readFileSync(join(dir.path, 'audit.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line).request_id);
  assert.deepEqual(new Set(ids), new Set(Array.from({ length: 200 }, (_, i) => `r${i}`)));
  assert.equal(ids.length, 200);
  dir.remove();
});

test('a torn last line left by a crash is cut off when the log is opened again', async () => {
  const dir = tempDir('audit');
  const path = join(dir.path, 'audit.jsonl');
  const good = JSON.stringify(record('kept')) + '\n';
  for (const torn of ['{"time":"2026-', 'x'.repeat(100_000)]) {
    writeFileSync(path, good + torn);
    const sink = new FileAuditSink(path);
    await sink.open();
    await sink.write(record('after'));
    await sink.close();
    assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map(line => JSON.parse(line).request_id), ['kept', 'after']);
  }
  writeFileSync(path, '{"torn');
  const sink = new FileAuditSink(path);
  await sink.open();
  await sink.close();
  assert.equal(readFileSync(path, 'utf8'), '');
  dir.remove();
});

const idsIn = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map(line => JSON.parse(line).request_id as string) : []);

test('rotation by rename while writing: every acknowledged record is in the live file or a rotated one, once', async () => {
  const dir = tempDir('audit');
  const path = join(dir.path, 'audit.jsonl');
  const notices: string[] = [];
  const sink = new FileAuditSink(path, message => notices.push(message));
  await sink.open();
  const acknowledged: string[] = [];
  const writes = Array.from({ length: 400 }, async (_, i) => {
    await new Promise(resolve => setTimeout(resolve, i % 40));
    await sink.write(record(`r${i}`));
    acknowledged.push(`r${i}`);
  });
  let rotations = 0;
  const rotator = (async () => {
    for (let i = 1; i <= 8; i++) {
      await new Promise(resolve => setTimeout(resolve, 5));
      if (!existsSync(path)) continue;
      renameSync(path, `${path}.${i}`);
      rotations++;
    }
  })();
  await Promise.all([...writes, rotator]);
  await sink.close();
  const files = readdirSync(dir.path).map(name => join(dir.path, name));
  const stored = files.flatMap(idsIn);
  assert.equal(acknowledged.length, 400);
  assert.deepEqual([...stored].sort(), [...acknowledged].sort(), 'each record once, in some audit.jsonl* file');
  assert.ok(rotations >= 2 && notices.some(notice => /rotated or deleted/.test(notice)), `${rotations} rotations, notices: ${notices.join('; ')}`);
  dir.remove();
});

test('the audit file deleted while serving: the next records go to a new file at the path', async () => {
  const dir = tempDir('audit');
  const path = join(dir.path, 'audit.jsonl');
  const sink = new FileAuditSink(path);
  await sink.open();
  await sink.write(record('before'));
  unlinkSync(path);
  await Promise.all(Array.from({ length: 10 }, (_, i) => sink.write(record(`after${i}`))));
  await sink.close();
  assert.deepEqual(idsIn(path).sort(), Array.from({ length: 10 }, (_, i) => `after${i}`).sort());
  dir.remove();
});

test('lone surrogates and NUL are stored as U+FFFD with the exact values in raw_values; other text as it is', async () => {
  const dir = tempDir('audit');
  const path = join(dir.path, 'audit.jsonl');
  const sink = new FileAuditSink(path);
  await sink.open();
  await sink.write({ ...record('odd'), caller_filter: "x = '\ud800'", dataset: 'a\u0000b', notebook: 'ok \ud83d\ude00 \u0001 \u2028' });
  await sink.close();
  const stored = JSON.parse(readFileSync(path, 'utf8'));
  assert.deepEqual(
    { caller_filter: stored.caller_filter, dataset: stored.dataset, notebook: stored.notebook, raw: JSON.parse(stored.raw_values) },
    { caller_filter: "x = '\uFFFD'", dataset: 'a\uFFFDb', notebook: 'ok \ud83d\ude00 \u0001 \u2028', raw: { caller_filter: "x = '\ud800'", dataset: 'a\u0000b' } }
  );
  dir.remove();
});
