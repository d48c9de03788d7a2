#!/usr/bin/env node
// s3rver_run.js: start s3rver (npm, pinned in package.json) on 127.0.0.1 and
// write the port it got to a file; the S3 test gate (s3_gate.py) sits in
// front of it.  s3rver verifies no V4 signature, hence the gate.
//
//   node s3rver_run.js --directory DIR --port-file FILE [--port N] [--bucket NAME ...]
//
// NODE_PATH (or OSV_S3RVER_DIR, default /var/cache/osv-npm/s3rver) must hold
// node_modules/s3rver.  Exits with status 0 on SIGTERM or SIGINT.
'use strict';

const fs = require('fs');
const path = require('path');

const args = { directory: null, portFile: null, port: 0, buckets: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const value = argv[i + 1];
  switch (argv[i]) {
    case '--directory': args.directory = value; i++; break;
    case '--port-file': args.portFile = value; i++; break;
    case '--port': args.port = Number(value); i++; break;
    case '--bucket': args.buckets.push(value); i++; break;
    default:
      console.error(`s3rver_run.js: unknown argument ${argv[i]}`);
      process.exit(2);
  }
}
if (!args.directory || !args.portFile) {
  console.error('usage: s3rver_run.js --directory DIR --port-file FILE [--port N] [--bucket NAME ...]');
  process.exit(2);
}

const installDir = process.env.OSV_S3RVER_DIR || '/var/cache/osv-npm/s3rver';
let S3rver;
try {
  S3rver = require('s3rver');
} catch (err) {
  S3rver = require(path.join(installDir, 'node_modules', 's3rver'));
}

// s3rver's filesystem store removes the directories a delete leaves empty,
// racing with the deletes running beside it in the same directory (a
// DeleteObjects runs its keys at once): readdirSync of a directory another
// delete has just removed throws ENOENT, answered 500 InternalError though
// the object is gone. S3 has no directories: that clean-up may fail quietly.
let FilesystemStore;
try {
  FilesystemStore = require('s3rver/lib/stores/filesystem');
} catch (err) {
  FilesystemStore = require(path.join(installDir, 'node_modules', 's3rver', 'lib', 'stores', 'filesystem'));
}
const deleteObject = FilesystemStore.prototype.deleteObject;
FilesystemStore.prototype.deleteObject = async function (bucket, key) {
  try {
    await deleteObject.call(this, bucket, key);
  } catch (err) {
    if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY') throw err;
  }
};

// s3rver parses request bodies (a DeleteObjects list) with fast-xml-parser's
// defaults, which trim text and read "007" or "1e3" as numbers: a key " a "
// would lose its spaces, and a numeric one fails the request (500). S3 keeps
// every key as sent: so does this parser now.
let xmlParser;
try {
  xmlParser = require(require.resolve('fast-xml-parser', { paths: [path.dirname(require.resolve('s3rver'))] }));
} catch (err) {
  xmlParser = require(path.join(installDir, 'node_modules', 'fast-xml-parser'));
}
const parseXml = xmlParser.parse;
xmlParser.parse = (xml, options, validation) =>
  parseXml.call(xmlParser, xml, Object.assign({}, options, { parseNodeValue: false, trimValues: false }), validation);

const server = new S3rver({
  address: '127.0.0.1',
  port: args.port,
  directory: args.directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: args.buckets.map(name => ({ name, configs: [] })),
});

server.run().then(
  address => {
    const temporary = `${args.portFile}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, `${address.port}\n`);
    fs.renameSync(temporary, args.portFile);
  },
  err => {
    console.error(`s3rver_run.js: ${err.message}`);
    process.exit(1);
  },
);

function stop() {
  if (!server.httpServer) process.exit(0);
  server.close(() => process.exit(0));
  server.httpServer.closeAllConnections(); // idle keep-alive ones too
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
