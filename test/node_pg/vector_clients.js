// test/node_pg/vector_clients.js: vector input and output through
// node-postgres, as an app sends them (run by test/t/025_vector_clients.pl).
//
// Connects with the PG* environment variables as a member of osv_app,
// acting for the user $OSV_ACTING_USER, whose document $OSV_DOCUMENT has no
// summary yet.  Prints one line per check, "ok - NAME" or
// "not ok - NAME: DETAIL", then "done N".
'use strict';
const { Client } = require('pg');

let checks = 0;
function report(ok, name, detail) {
  checks++;
  console.log((ok ? 'ok - ' : 'not ok - ') + name + (ok ? '' : ': ' + detail));
}
function sameRows(got, want) {
  return JSON.stringify(got) === JSON.stringify(want);
}
// An expected error: its SQLSTATE and, when given, a part of its message.
async function expectError(client, name, sql, params, sqlstate, message) {
  try {
    await client.query(sql, params);
    report(false, name, 'no error');
  } catch (e) {
    const ok = e.code === sqlstate && (!message || e.message.includes(message));
    report(ok, name, `got ${e.code} "${e.message}"`);
  }
}

async function main() {
  const client = new Client();
  await client.connect();
  await client.query('SET osv.acting_user_id = ' + Number(process.env.OSV_ACTING_USER));
  const search = 'SELECT summary_id::int AS id, score FROM osv.search_summaries';

  // The reference: a real[] query, as osv.embed_text() returns it.
  const want = (await client.query(`${search}(osv.embed_text($1), 3)`, ['the cell membrane'])).rows;
  report(want.length === 3, 'the reference search finds 3 summaries', JSON.stringify(want));
  // node-pg reads real[] as an array of numbers.
  const q = (await client.query('SELECT osv.embed_text($1) AS v', ['the cell membrane'])).rows[0].v;
  report(Array.isArray(q) && q.length === 384 && typeof q[0] === 'number', 'real[] reads as an array of numbers', typeof q);

  // Search with each form of the query.
  let got = (await client.query(`${search}($1, 3)`, [JSON.stringify(q)])).rows;
  report(sameRows(got, want), 'JSON.stringify(array) searches like real[]', JSON.stringify(got));
  got = (await client.query(`${search}($1, 3)`, [q])).rows;
  report(sameRows(got, want), 'a JS array (sent as array text) searches like real[]', JSON.stringify(got));
  got = (await client.query(`${search}(query => $1, k => 3)`, [JSON.stringify(q)])).rows;
  report(sameRows(got, want), 'named arguments with JSON search like real[]', JSON.stringify(got));
  const f32 = new Float32Array(q);
  got = (await client.query(`${search}(osv.vector_from_bytes($1), 3)`, [f32])).rows;
  report(sameRows(got, want), 'a Float32Array through osv.vector_from_bytes searches like real[]', JSON.stringify(got));
  got = (await client.query(`${search}($1::bytea, 3)`, [Buffer.from(f32.buffer)])).rows;
  report(sameRows(got, want), 'a Buffer cast to bytea searches like real[]', JSON.stringify(got));
  // node-pg sends a Float32Array as an untyped binary parameter: without a
  // cast or the conversion it is taken for text, and refused.
  try {
    await client.query(`${search}($1, 3)`, [f32]);
    report(false, 'an uncast Float32Array is refused', 'no error');
  } catch (e) {
    report(e.code === '22021' || e.code === '22P02', 'an uncast Float32Array is refused', e.code);
  }

  // Writes through the conversions, and reads back.
  const doc = Number(process.env.OSV_DOCUMENT);
  const ins = `INSERT INTO osv.summaries (document_id, topic, content, embedding)
               VALUES ($1, 'clients', $2, osv.vector_from_text($3)) RETURNING id`;
  const jsonId = (await client.query(ins, [doc, 'json', JSON.stringify(q)])).rows[0].id;
  const stored = (await client.query('SELECT embedding FROM osv.summaries WHERE id = $1', [jsonId])).rows[0].embedding;
  report(sameRows(stored, q), 'an embedding written as JSON reads back as the same numbers', stored.slice(0, 3));
  await client.query('UPDATE osv.summaries SET embedding = NULL WHERE id = $1', [jsonId]);
  await client.query('UPDATE osv.summaries SET embedding = osv.vector_from_bytes($2) WHERE id = $1', [jsonId, f32]);
  const back = (await client.query(
    'SELECT embedding, osv.vector_to_bytes(embedding) AS bytes FROM osv.summaries WHERE id = $1', [jsonId])).rows[0];
  report(sameRows(back.embedding, q), 'an embedding written from a Float32Array reads back as the same numbers', back.embedding.slice(0, 3));
  const f32back = new Float32Array(back.bytes.buffer.slice(back.bytes.byteOffset, back.bytes.byteOffset + back.bytes.length));
  report(f32back.length === 384 && f32back.every((x, i) => x === f32[i]),
    'osv.vector_to_bytes reads back into the same Float32Array', f32back.length);

  // Wrong shapes reach the client with their SQLSTATE.
  await expectError(client, 'JSON of the wrong dimension: 22000', `${search}($1)`, [JSON.stringify([1, 2, 3])],
    '22000', 'query vector has the wrong number of dimensions');
  await expectError(client, 'JSON with a NaN (JSON.stringify writes null): 22004', `${search}($1)`,
    [JSON.stringify([NaN].concat(q.slice(1)))], '22004', 'query vector must not contain null values');
  await expectError(client, 'nested JSON arrays: 22000', `${search}($1)`, [JSON.stringify([q.slice(0, 192), q.slice(192)])],
    '22000', 'vector must be a one-dimensional array');
  await expectError(client, 'truncated JSON: 22P02', `${search}($1)`, [JSON.stringify(q).slice(0, -1)],
    '22P02', 'invalid input syntax for a vector');
  await expectError(client, 'a Float32Array of the wrong length: 22000', `${search}(osv.vector_from_bytes($1))`,
    [new Float32Array(3).fill(1)], '22000', 'query vector has the wrong number of dimensions');
  await expectError(client, 'bytes not a multiple of 4: 22P03', `${search}(osv.vector_from_bytes($1))`,
    [Buffer.alloc(7)], '22P03', 'vector bytes must be a multiple of 4 bytes long');
  const withInf = new Float32Array(f32);
  withInf[5] = Infinity;
  await expectError(client, 'an embedding with Infinity: 22000',
    'UPDATE osv.summaries SET embedding = osv.vector_from_bytes($2) WHERE id = $1', [jsonId, withInf],
    '22000', 'embedding must contain only finite values');
  await expectError(client, 'an embedding of the wrong dimension: 22000',
    'UPDATE osv.summaries SET embedding = osv.vector_from_text($2) WHERE id = $1', [jsonId, '[1, 2, 3]'],
    '22000', 'embedding has the wrong number of dimensions');

  await client.end();
  console.log('done ' + checks);
}

main().catch((e) => {
  console.log('not ok - the script failed: ' + (e.code || '') + ' ' + e.message);
  process.exit(1);
});
