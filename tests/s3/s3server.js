// tests/s3/s3server.js - run the S3-compatible test server (@20minutes/s3rver,
// installed by tests/s3.sh) on 127.0.0.1 with SigV4 signatures checked.
//
//   node s3server.js MODULES DIR PORTFILE ACCESS SECRET PORT [BUCKET...]
//
// MODULES is the node_modules directory the package is in, DIR the server's
// data directory; the port it listens on (an ephemeral one) is written to
// PORTFILE once it accepts connections (PORT 0: an ephemeral one).  ACCESS/SECRET is the one key pair
// it knows besides the package's built-in one.  The buckets are created at
// start.  It stops on SIGTERM or SIGINT.
'use strict';

const fs = require('fs');
const path = require('path');

const [modules, dir, portFile, access, secret, port, ...buckets] = process.argv.slice(2);
const S3rver = require(path.join(modules, '@20minutes', 's3rver'));
const AWSAccount = require(path.join(modules, '@20minutes', 's3rver', 'lib', 'models', 'account'));

AWSAccount.DUMMY_ACCOUNT.createKeyPair(access, secret);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port) || 0,
  silent: true,
  directory: dir,
  allowMismatchedSignatures: false,
  vhostBuckets: true,
  serviceEndpoint: 'localhost',
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});

server.run().then((addr) => {
  fs.writeFileSync(portFile + '.tmp', String(addr.port));
  fs.renameSync(portFile + '.tmp', portFile);
}, (err) => {
  console.error('s3server: ' + err.message);
  process.exit(1);
});

function stop() {
  server.close().then(() => process.exit(0), () => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
