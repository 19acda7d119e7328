import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileAuditSink } from '../audit/log';
import { AuditRecord } from '../audit/record';
import { tempDir } from './helpers';

const record = (id: string): AuditRecord => ({
  time: new Date().toISOString(), request_id: id, event: 'access', user_name: 'alice', groups: 'analysts', client: 'api', notebook: null,
  action: 'scan', dataset: 'd.t', columns: null, policies: null, row_filter: null, caller_filter: null, outcome: 'allowed', reason: null, rows: null, bytes: null
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
